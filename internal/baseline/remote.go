package baseline

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// A registry baseline is read with go-containerregistry, straight from the registry,
// not pulled through the daemon: a pull would tag the image in the local store, and for
// --baseline auto that tag is the very tag being pushed (the local image must keep it),
// and it would leave a copy of every baseline image behind.

// ErrNotFound marks a baseline image the registry does not have (no such tag or
// repository): for --baseline auto, the first push of a tag.
var ErrNotFound = errors.New("not in the registry")

// Access says how to reach a registry: its credentials (from the docker config, as for
// the push) and whether it is plain HTTP (the daemon's insecure-registries; 127.0.0.1
// and localhost are plain HTTP anyway).
type Access struct {
	Auth     authn.Authenticator // nil: anonymous
	Insecure bool
}

// Options are go-containerregistry's options to read the registry with this access.
func (a Access) Options(ctx context.Context) []remote.Option {
	auth := a.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(http.DefaultTransport)}
}

// AttachedRecord, when set, is tried first for an image baseline from a registry: the
// scan record attached to the digest the reference names (OCI referrers, issue 13's
// internal/attest). It returns ok=false when the registry holds none for that digest,
// and then the image is read and scanned. The plugin sets it (plugin/baselinerecord.go:
// package attest imports policy, which imports this package, so it cannot be called
// from here); nil: the image is always scanned.
var AttachedRecord func(ctx context.Context, repo name.Repository, digest string, acc Access) (b Baseline, ok bool, err error)

// Remote is a baseline image as a registry serves it now: what the reference names and
// the platform images of it to scan.
type Remote struct {
	Ref    name.Reference
	Digest string // what Ref names: the digest of an index or of a manifest
	// Platforms are the platform images chosen (os/arch[/variant]) and Manifests their
	// manifest digests, in the same order.
	Platforms []string
	Manifests []string
	// DiffIDs are the layers of the chosen images (each once, in order).
	DiffIDs []string

	rawIndex []byte // the index, when Digest names one
	images   []v1.Image
}

// FetchRemote asks the registry what ref (NAME:TAG or NAME@DIGEST) names, and chooses
// its platform images: every image of an index whose platform is one of platforms
// (os/arch[/variant]; a variant is compared only when both sides name one), every image
// of it when platforms is empty; attestation manifests are never images. A manifest is
// taken as it is. The error wraps ErrNotFound when the registry has no such image.
func FetchRemote(ctx context.Context, ref string, acc Access, platforms []string) (*Remote, error) {
	var nopts []name.Option
	if acc.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%s is not an image reference: %v", ref, err)
	}
	opts := acc.Options(ctx)
	desc, err := remote.Get(r, opts...)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s: %w", r, ErrNotFound)
		}
		return nil, fmt.Errorf("read %s from its registry: %s", r, oneLine(err))
	}
	out := &Remote{Ref: r, Digest: desc.Digest.String()}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("read %s from its registry: %s", r, oneLine(err))
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("read the config of %s: %s", r, oneLine(err))
		}
		out.Platforms = []string{platformString(cf.Platform())}
		out.Manifests = []string{out.Digest}
		out.images = []v1.Image{img}
		out.addDiffIDs(cf)
		return out, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read the index %s: %s", r, oneLine(err))
	}
	out.rawIndex = desc.Manifest
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read the index %s: %s", r, oneLine(err))
	}
	var offered []string
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
			continue // an attestation manifest, or a nested index (not followed)
		}
		p := platformString(m.Platform)
		offered = append(offered, p)
		if len(platforms) > 0 && !slices.ContainsFunc(platforms, func(w string) bool { return samePlatform(w, p) }) {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %s", p, r, oneLine(err))
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("read the config of %s of %s: %s", p, r, oneLine(err))
		}
		out.Platforms = append(out.Platforms, p)
		out.Manifests = append(out.Manifests, m.Digest.String())
		out.images = append(out.images, img)
		out.addDiffIDs(cf)
	}
	if len(out.images) == 0 {
		return nil, fmt.Errorf("%s has no image for %s (it has %s)", r, strings.Join(platforms, ", "), strings.Join(offered, ", "))
	}
	return out, nil
}

func (r *Remote) addDiffIDs(cf *v1.ConfigFile) {
	for _, d := range cf.RootFS.DiffIDs {
		if !slices.Contains(r.DiffIDs, d.String()) {
			r.DiffIDs = append(r.DiffIDs, d.String())
		}
	}
}

// Name is the reference as the user wrote it (registry included).
func (r *Remote) Name() string { return r.Ref.String() }

// Repository is the repository the image is in.
func (r *Remote) Repository() name.Repository { return r.Ref.Context() }

// Archive streams the chosen images as a tar of an OCI image layout's blobs (what the
// engine reads from `docker save` on Docker 25+): the index (when Digest names one),
// then each image's manifest and config, then its layers as the registry stores them
// (gzip or zstd). The engine resolves Digest in it, so an index lists the platform
// images not chosen as absent. Layers are fetched as the engine reads the stream; the
// registry's content is checked against its digests by go-containerregistry, and the
// JSON blobs again by the engine.
func (r *Remote) Archive(ctx context.Context) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(r.writeArchive(ctx, pw))
	}()
	return pr
}

func (r *Remote) writeArchive(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	written := map[string]bool{}
	blob := func(digest string, size int64, open func() (io.ReadCloser, error)) error {
		if written[digest] {
			return nil
		}
		written[digest] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:"), Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, rc); err != nil {
			return fmt.Errorf("read blob %s of %s: %s", digest, r.Ref, oneLine(err))
		}
		return nil
	}
	bytesBlob := func(b []byte) (int64, func() (io.ReadCloser, error)) {
		return int64(len(b)), func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil }
	}
	if r.rawIndex != nil {
		size, open := bytesBlob(r.rawIndex)
		if err := blob(r.Digest, size, open); err != nil {
			return err
		}
	}
	for i, img := range r.images {
		raw, err := img.RawManifest()
		if err != nil {
			return err
		}
		size, open := bytesBlob(raw)
		if err := blob(r.Manifests[i], size, open); err != nil {
			return err
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		cd, err := img.ConfigName()
		if err != nil {
			return err
		}
		size, open = bytesBlob(cfg)
		if err := blob(cd.String(), size, open); err != nil {
			return err
		}
	}
	for _, img := range r.images {
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			d, err := l.Digest()
			if err != nil {
				return err
			}
			size, err := l.Size()
			if err != nil {
				return err
			}
			if err := blob(d.String(), size, l.Compressed); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// notFound reports whether a registry error says the image does not exist.
func notFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, e := range te.Errors {
		switch e.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
			return true
		}
	}
	return false
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// samePlatform compares os/arch[/variant] platforms; the variant only when both name one.
func samePlatform(a, b string) bool {
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	if len(pa) < 2 || len(pb) < 2 || pa[0] != pb[0] || pa[1] != pb[1] {
		return false
	}
	return len(pa) < 3 || len(pb) < 3 || pa[2] == pb[2]
}

// OnPlatforms keeps the findings of the given platforms (os/arch[/variant], a variant
// compared only when both name one) and those that name no platform (a single-platform
// scan's); no platforms keeps them all.
func OnPlatforms(fs []report.Finding, platforms []string) []report.Finding {
	if len(platforms) == 0 {
		return fs
	}
	out := make([]report.Finding, 0, len(fs))
	for _, f := range fs {
		if f.Platform == "" || slices.ContainsFunc(platforms, func(p string) bool { return samePlatform(p, f.Platform) }) {
			out = append(out, f)
		}
	}
	return out
}

// FromScan is a baseline made of a scan's findings.
func FromScan(source string, s report.Scan) Baseline {
	return Baseline{Source: source, Findings: s.Findings}
}
