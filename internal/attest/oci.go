package attest

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxRecord bounds what is read of one attached record (a CycloneDX SBOM of a large
// image is a few MB): a registry cannot make verify read without end.
const maxRecord = 256 << 20

// emptyConfig is the OCI empty descriptor's content (image-spec 1.1 "Guidance for an
// Empty Descriptor").
var emptyConfig = []byte("{}")

// Attach writes each statement (in-toto statement JSON about subject) to subject's
// repository as an OCI 1.1 referrer of subject, signed by signer when not nil, one
// manifest per statement, written one after the other (the referrers tag of a
// registry without the referrers API is rewritten by each). ropts carry the context,
// credentials and transport. It returns the digests of the manifests written; an
// error names the statement it stopped at (the ones before it are attached).
func Attach(subject name.Digest, statements [][]byte, signer *Signer, created time.Time, ropts ...remote.Option) ([]string, error) {
	desc, err := remote.Head(subject, ropts...)
	if err != nil {
		return nil, fmt.Errorf("read the pushed manifest %s: %v", subject, err)
	}
	repo := subject.Context()
	cfg := static.NewLayer(emptyConfig, types.OCIEmptyJSON)
	if err := remote.WriteLayer(repo, cfg, ropts...); err != nil {
		return nil, fmt.Errorf("attach to %s: write the empty config: %v", subject, err)
	}
	cfgDigest, _ := cfg.Digest()
	var written []string
	for _, st := range statements {
		parsed, err := ParseStatement(st)
		if err != nil {
			return written, err
		}
		content, artifactType, annKey := st, InTotoMediaType, AnnotationPredicateType
		if signer != nil {
			if content, err = signer.Bundle(st); err != nil {
				return written, err
			}
			artifactType, annKey = BundleMediaType, AnnotationBundlePredicateType
		}
		layer := static.NewLayer(content, types.MediaType(artifactType))
		if err := remote.WriteLayer(repo, layer, ropts...); err != nil {
			return written, fmt.Errorf("attach the %s record to %s: %v", ShortType(parsed.PredicateType), subject, err)
		}
		ld, _ := layer.Digest()
		ann := map[string]string{
			AnnotationCreated: created.UTC().Format(time.RFC3339Nano),
			annKey:            parsed.PredicateType,
			AnnotationTool:    "docker-secscan",
		}
		if signer != nil {
			ann[AnnotationBundleContent] = "dsse-envelope"
		}
		m := v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.OCIManifestSchema1,
			ArtifactType:  artifactType,
			Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Size: int64(len(emptyConfig)), Digest: cfgDigest},
			Layers: []v1.Descriptor{{MediaType: types.MediaType(artifactType), Size: int64(len(content)), Digest: ld,
				Annotations: map[string]string{annKey: parsed.PredicateType}}},
			Subject:     &v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest},
			Annotations: ann,
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return written, err
		}
		h, _, _ := v1.SHA256(bytes.NewReader(raw))
		if err := remote.Put(repo.Digest(h.String()), rawManifest{raw}, ropts...); err != nil {
			return written, fmt.Errorf("attach the %s record to %s: %v", ShortType(parsed.PredicateType), subject, err)
		}
		written = append(written, h.String())
	}
	return written, nil
}

// rawManifest is an OCI image manifest to put as is.
type rawManifest struct{ raw []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Record is one statement found attached to a digest.
type Record struct {
	Statement Statement
	// Raw is the statement as attached (JSON).
	Raw []byte
	// Manifest is the digest of the referrer manifest that holds it.
	Manifest string
	// Signed: the record is a Sigstore bundle (DSSE); Verified: its signature was
	// checked with the key given to Find and holds.
	Signed, Verified bool
	// Created is the manifest's org.opencontainers.image.created annotation (zero when absent).
	Created time.Time
	// Err says why the record cannot be used (it does not parse, its signature does
	// not verify, it is about another digest, it is not signed while a key was given).
	Err error
}

// ErrNoReferrers is a digest with no in-toto or Sigstore-bundle referrer at all.
var ErrNoReferrers = errors.New("no attached records")

// Find lists the statements attached to subject (name@sha256:...) as referrers (the
// referrers API, else the referrers tag), with predicate type predicateType when not
// empty. With keys, each record's signature must verify with one of them (unsigned
// records get Err). Records that do not hold are returned with Err set, never silently
// dropped; errors are for a registry that cannot be read.
func Find(subject name.Digest, predicateType string, keys []crypto.PublicKey, ropts ...remote.Option) ([]Record, error) {
	idx, err := remote.Referrers(subject, ropts...)
	if err != nil {
		return nil, fmt.Errorf("list the records attached to %s: %v", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("list the records attached to %s: %v", subject, err)
	}
	var out []Record
	for _, d := range im.Manifests {
		// artifactType is the manifest's, or (registries that follow an earlier draft of
		// OCI 1.1) its config media type: the annotations then say what it is.
		if d.ArtifactType != InTotoMediaType && d.ArtifactType != BundleMediaType && predicateOf(d.Annotations) == "" {
			continue
		}
		if pt := predicateOf(d.Annotations); predicateType != "" && pt != "" && pt != predicateType {
			continue
		}
		r := read(subject, d, keys, ropts)
		if predicateType != "" && r.Err == nil && r.Statement.PredicateType != predicateType {
			continue
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b Record) int { return b.Created.Compare(a.Created) })
	return out, nil
}

func predicateOf(ann map[string]string) string {
	if pt := ann[AnnotationBundlePredicateType]; pt != "" {
		return pt
	}
	return ann[AnnotationPredicateType]
}

// read fetches one referrer and opens its statement.
func read(subject name.Digest, d v1.Descriptor, keys []crypto.PublicKey, ropts []remote.Option) Record {
	r := Record{Manifest: d.Digest.String()}
	if t, err := time.Parse(time.RFC3339, d.Annotations[AnnotationCreated]); err == nil {
		r.Created = t
	}
	img, err := remote.Image(subject.Context().Digest(d.Digest.String()), ropts...)
	if err != nil {
		r.Err = fmt.Errorf("read record %s: %v", r.Manifest, err)
		return r
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		r.Err = fmt.Errorf("record %s: want exactly one layer (%v)", r.Manifest, err)
		return r
	}
	mt, err := layers[0].MediaType()
	if err != nil || (mt != InTotoMediaType && mt != BundleMediaType) {
		r.Err = fmt.Errorf("record %s: a %q layer, not an in-toto statement or a Sigstore bundle", r.Manifest, mt)
		return r
	}
	r.Signed = mt == BundleMediaType
	if size, err := layers[0].Size(); err != nil || size > maxRecord {
		r.Err = fmt.Errorf("record %s: layer size %d is over the %d MiB limit (%v)", r.Manifest, size, maxRecord>>20, err)
		return r
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		r.Err = fmt.Errorf("read record %s: %v", r.Manifest, err)
		return r
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRecord))
	if err != nil {
		r.Err = fmt.Errorf("read record %s: %v", r.Manifest, err)
		return r
	}
	raw := b
	if r.Signed {
		if raw, err = OpenBundle(b, keys...); err != nil {
			r.Err = fmt.Errorf("record %s: %w", r.Manifest, err)
			return r
		}
		r.Verified = len(keys) > 0
	} else if len(keys) > 0 {
		r.Err = fmt.Errorf("record %s is not signed, and a key was given", r.Manifest)
	}
	st, err := ParseStatement(raw)
	if err != nil {
		if r.Err == nil {
			r.Err = fmt.Errorf("record %s: %v", r.Manifest, err)
		}
		return r
	}
	r.Statement, r.Raw = st, raw
	if !st.About(subject.DigestStr()) && r.Err == nil {
		r.Err = fmt.Errorf("record %s is about another image, not %s", r.Manifest, subject.DigestStr())
	}
	return r
}
