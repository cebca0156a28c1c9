package dockerarchive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of BuildKit's attestation manifests and of the in-toto statements they
// carry (BuildKit docs/attestations/attestation-storage.md).
const (
	// AttestationRefType is the value of the "vnd.docker.reference.type" annotation on
	// an index entry that is an attestation manifest, not an image.
	AttestationRefType = "attestation-manifest"
	// annotationRefType and annotationRefDigest are BuildKit's annotations on the
	// index entry of an attestation manifest: its kind, and the manifest it describes.
	annotationRefType   = "vnd.docker.reference.type"
	annotationRefDigest = "vnd.docker.reference.digest"
	// annotationPredicateType names the in-toto predicate type of an attestation layer.
	annotationPredicateType = "in-toto.io/predicate-type"
	// InTotoMediaType is the media type of an attestation layer.
	InTotoMediaType = "application/vnd.in-toto+json"
)

// maxDepth bounds how deep indexes may nest (an index of indexes of ...).
const maxDepth = 4

// Blobs gives the content of a blob of the archive by digest ("sha256:<hex>"), and
// whether the archive holds it. Only small JSON blobs (indexes, manifests, configs,
// attestation statements) need to be given: layers never are.
type Blobs func(digest string) ([]byte, bool)

// PlatformImage is one image (one config and its layers) of what an image ID names.
type PlatformImage struct {
	// Platform is os/architecture[/variant], from the index entry or else the config.
	Platform string
	// Manifest is the digest of the image manifest ("" when the ID names a config: an
	// image of Docker's classic image store, whose ID is its config digest).
	Manifest string
	// Config is the digest of the image config, and ConfigRaw its bytes.
	Config    string
	ConfigRaw []byte
	// DiffIDs are the uncompressed layer digests of the config's rootfs, bottom first.
	DiffIDs []string
	// Layers are the manifest's layer digests (compressed when the blobs are), in the
	// order of DiffIDs: Layers[i] holds DiffIDs[i]. Empty when Manifest is.
	Layers []string
}

// Attestation is an attestation manifest found beside the images (BuildKit's
// provenance and SBOM attestations): not an image, never scanned as one.
type Attestation struct {
	Manifest string // digest of the attestation manifest
	For      string // digest of the image manifest it describes ("" when not said)
	// PredicateTypes of its in-toto layers, e.g. "https://spdx.dev/Document",
	// "https://slsa.dev/provenance/v0.2".
	PredicateTypes []string
	// Layers are the digests of its in-toto layers, in order of PredicateTypes.
	Layers []string
}

// Resolved is what an image ID names: the images a push of it would send, the
// attestations beside them, and platforms the index lists that the archive lacks.
type Resolved struct {
	// Kind of the blob the ID names: "index", "manifest" or "config".
	Kind         string
	Images       []PlatformImage
	Attestations []Attestation
	// Absent lists index entries (platform and digest) whose manifest is not in the
	// archive: content the local store does not hold (a single-platform pull of a
	// multi-platform image), so neither scanned nor pushed.
	Absent []string
	// Skipped lists platform images left out by the platform filter.
	Skipped []string
}

// Resolve follows the image ID id (the digest of an OCI image index, a Docker manifest
// list, an image manifest, or an image config) through nested indexes and manifests
// to every image config it names, as a push of it would send them (OCI image spec:
// image-index.md, manifest.md, config.md; Docker's containerd image store names images
// by index or manifest digest, its classic store by config digest). Attestation
// manifests (BuildKit's, annotated vnd.docker.reference.type=attestation-manifest, or
// platform unknown/unknown) are listed apart, not as images. platform, when not empty
// ("linux/arm64", "linux/arm/v7"), keeps only images of that platform (a missing
// variant matches any, as `docker push --platform` does).
//
// Every blob is checked: its digest must match its content, an index or manifest is
// never read as a config (media types are checked where present, the structure
// always), and a config must have rootfs.type "layers" with as many diff IDs as its
// manifest has layers. Errors name the digest and what was wrong; an ID that names no
// image at all (only attestations, or nothing of platform) is an error too.
func Resolve(id string, blobs Blobs, platform string) (Resolved, error) {
	var want *v1.Platform
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return Resolved{}, fmt.Errorf("invalid platform %q: use os/arch[/variant], e.g. linux/amd64", platform)
		}
		want = p
	}
	raw, err := blob(blobs, id)
	if err != nil {
		return Resolved{}, err
	}
	r := &resolver{blobs: blobs, want: want}
	kind := classify(raw, "")
	r.out.Kind = kind
	switch kind {
	case "index":
		err = r.index(id, raw, 0)
	case "manifest":
		err = r.manifest(id, raw, nil)
	case "config":
		err = r.config(id, raw, "", nil, nil)
	default:
		err = fmt.Errorf("blob %s that the image ID names is neither an image index, a manifest nor an image config", id)
	}
	if err != nil {
		return Resolved{}, err
	}
	if len(r.out.Images) == 0 {
		switch {
		case want != nil && len(r.out.Skipped) > 0:
			return Resolved{}, fmt.Errorf("image %s has no %s image (it has %s): choose one of those with --platform", id, platform, strings.Join(r.out.Skipped, ", "))
		case len(r.out.Absent) > 0:
			return Resolved{}, fmt.Errorf("none of the images that %s lists is in the local store (%s): pull or build it first", id, strings.Join(r.out.Absent, ", "))
		}
		return Resolved{}, fmt.Errorf("image %s names no container image (only attestations or other artifacts): there is nothing to scan", id)
	}
	return r.out, nil
}

type resolver struct {
	blobs Blobs
	want  *v1.Platform
	out   Resolved
}

// blob returns the blob named digest, its digest checked.
func blob(blobs Blobs, digest string) ([]byte, error) {
	raw, ok := blobs(digest)
	if !ok {
		return nil, fmt.Errorf("the image archive lacks blob %s", digest)
	}
	if got := Digest(raw); got != digest {
		return nil, fmt.Errorf("blob %s of the image archive has digest %s: the archive is damaged", digest, got)
	}
	return raw, nil
}

// classify says what a JSON blob is: "index", "manifest", "config" or "" (something
// else). The structure decides (an index has manifests, a manifest a config descriptor
// and layers, an image config a rootfs, and none has the keys that mark another); a media type, the blob's own
// mediaType field or else the one of the descriptor naming it (descMediaType), must
// agree with it.
func classify(raw []byte, descMediaType types.MediaType) string {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
		Layers    json.RawMessage `json:"layers"`
		RootFS    json.RawMessage `json:"rootfs"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	has := func(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }
	mt := probe.MediaType
	if mt == "" {
		mt = descMediaType
	}
	kind := ""
	switch {
	case has(probe.Manifests) && !has(probe.Layers) && !has(probe.RootFS):
		kind = "index"
	case has(probe.Config) && (has(probe.Layers) || mt.IsImage()) && !has(probe.Manifests) && !has(probe.RootFS):
		// (an image with no layers may say "layers": null, as Docker 29 writes it)
		kind = "manifest"
	case has(probe.RootFS) && !has(probe.Manifests) && !has(probe.Layers):
		kind = "config" // (an image config may have a "config" key: the run config)
	}
	if mt == "" {
		return kind
	}
	switch kind {
	case "index":
		if !mt.IsIndex() {
			return ""
		}
	case "manifest":
		if !mt.IsImage() {
			return ""
		}
	case "config":
		if !mt.IsConfig() {
			return ""
		}
	}
	return kind
}

func (r *resolver) index(digest string, raw []byte, depth int) error {
	if depth >= maxDepth {
		return fmt.Errorf("image index %s nests indexes more than %d deep", digest, maxDepth)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("image index %s does not parse: %v", digest, err)
	}
	for _, d := range idx.Manifests {
		ds := d.Digest.String()
		if isAttestation(d) {
			r.attestation(d)
			continue
		}
		plat := ""
		if d.Platform != nil {
			plat = d.Platform.String()
		}
		if d.MediaType != "" && !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
			continue // another artifact (a signature, an SBOM pushed as an artifact)
		}
		child, ok := r.blobs(ds)
		if !ok {
			r.out.Absent = append(r.out.Absent, strings.TrimPrefix(plat+" "+ds, " "))
			continue
		}
		if got := Digest(child); got != ds {
			return fmt.Errorf("blob %s of the image archive has digest %s: the archive is damaged", ds, got)
		}
		switch classify(child, d.MediaType) {
		case "index":
			if err := r.index(ds, child, depth+1); err != nil {
				return err
			}
		case "manifest":
			if r.want != nil && d.Platform != nil && !d.Platform.Satisfies(*r.want) {
				r.out.Skipped = append(r.out.Skipped, plat)
				continue
			}
			if err := r.manifest(ds, child, d.Platform); err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %s of image index %s is neither an index nor an image manifest", ds, digest)
		}
	}
	return nil
}

func isAttestation(d v1.Descriptor) bool {
	if d.Annotations[annotationRefType] == AttestationRefType {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

func (r *resolver) attestation(d v1.Descriptor) {
	a := Attestation{Manifest: d.Digest.String(), For: d.Annotations[annotationRefDigest]}
	if raw, err := blob(r.blobs, a.Manifest); err == nil {
		var m v1.Manifest
		if json.Unmarshal(raw, &m) == nil {
			for _, l := range m.Layers {
				a.Layers = append(a.Layers, l.Digest.String())
				a.PredicateTypes = append(a.PredicateTypes, l.Annotations[annotationPredicateType])
			}
		}
	}
	r.out.Attestations = append(r.out.Attestations, a)
}

func (r *resolver) manifest(digest string, raw []byte, plat *v1.Platform) error {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("image manifest %s does not parse: %v", digest, err)
	}
	if mt := m.Config.MediaType; mt != "" && !mt.IsConfig() {
		// An OCI artifact (Helm chart, signature, in-toto statement), not an image.
		if plat == nil {
			return fmt.Errorf("manifest %s is an artifact of type %s, not a container image: there is nothing to scan", digest, mt)
		}
		return nil
	}
	cd := m.Config.Digest.String()
	craw, err := blob(r.blobs, cd)
	if err != nil {
		return fmt.Errorf("image manifest %s: %v", digest, err)
	}
	if classify(craw, m.Config.MediaType) != "config" {
		return fmt.Errorf("the config %s of image manifest %s is not an image config", cd, digest)
	}
	layers := make([]string, 0, len(m.Layers))
	for _, l := range m.Layers {
		layers = append(layers, l.Digest.String())
	}
	return r.config(cd, craw, digest, layers, plat)
}

// config adds the image whose config is raw (digest cd), named by manifest (with its
// layer digests) or by the ID itself (manifest "").
func (r *resolver) config(cd string, raw []byte, manifest string, layers []string, plat *v1.Platform) error {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("image config %s does not parse: %v", cd, err)
	}
	if cfg.RootFS.Type != "layers" {
		return fmt.Errorf("blob %s is not an image config (its rootfs.type is %q, not \"layers\")", cd, cfg.RootFS.Type)
	}
	diffIDs := make([]string, 0, len(cfg.RootFS.DiffIDs))
	for _, d := range cfg.RootFS.DiffIDs {
		diffIDs = append(diffIDs, d.String())
	}
	if manifest != "" && len(layers) != len(diffIDs) {
		return fmt.Errorf("image manifest %s lists %d layers but its config %s has %d diff IDs: the image is damaged", manifest, len(layers), cd, len(diffIDs))
	}
	if manifest == "" && cfg.OS == "unknown" && cfg.Architecture == "unknown" {
		return fmt.Errorf("blob %s is the config of an attestation (platform unknown/unknown), not of an image: scan the image it is attached to", cd)
	}
	p := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if plat != nil && plat.OS != "" {
		p = *plat
	}
	if manifest == "" && r.want != nil && !p.Satisfies(*r.want) {
		r.out.Skipped = append(r.out.Skipped, p.String())
		return nil
	}
	r.out.Images = append(r.out.Images, PlatformImage{
		Platform: p.String(), Manifest: manifest, Config: cd, ConfigRaw: raw, DiffIDs: diffIDs, Layers: layers,
	})
	return nil
}

// AllDiffIDs returns the diff IDs of every image, each once, in order of appearance.
func (r Resolved) AllDiffIDs() []string {
	seen := map[string]bool{}
	var out []string
	for _, img := range r.Images {
		for _, d := range img.DiffIDs {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// LayerDiffIDs maps each manifest layer digest to its diff ID, for recognising a
// compressed layer before reading it.
func (r Resolved) LayerDiffIDs() map[string]string {
	out := map[string]string{}
	for _, img := range r.Images {
		for i, l := range img.Layers {
			out[l] = img.DiffIDs[i]
		}
	}
	return out
}
