package dockerarchive

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// store holds blobs by digest, as an archive would.
type store map[string][]byte

func (s store) get(d string) ([]byte, bool) { b, ok := s[d]; return b, ok }

func (s store) put(b []byte) string { d := Digest(b); s[d] = b; return d }

// addImage stores img's manifest and config and returns its manifest descriptor.
func (s store) addImage(t *testing.T, img v1.Image, plat *v1.Platform) v1.Descriptor {
	t.Helper()
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	s.put(cfg)
	m, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(s.put(m), "sha256:")}, Size: int64(len(m)), Platform: plat}
}

func platformImage(t *testing.T, os, arch, variant string, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(64, layers)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture, cf.Variant = os, arch, variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func index(t *testing.T, s store, descs ...v1.Descriptor) (string, v1.Descriptor) {
	t.Helper()
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs}
	b, _ := json.Marshal(idx)
	d := s.put(b)
	h, _ := v1.NewHash(d)
	return d, v1.Descriptor{MediaType: types.OCIImageIndex, Digest: h, Size: int64(len(b))}
}

func attestationFor(t *testing.T, s store, subject v1.Descriptor) v1.Descriptor {
	t.Helper()
	stmt := s.put([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":{}}`))
	cfg := s.put([]byte(`{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":["` + stmt + `"]}}`))
	ch, _ := v1.NewHash(cfg)
	lh, _ := v1.NewHash(stmt)
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: ch},
		Layers: []v1.Descriptor{{MediaType: InTotoMediaType, Digest: lh, Annotations: map[string]string{annotationPredicateType: "https://spdx.dev/Document"}}}}
	b, _ := json.Marshal(m)
	h, _ := v1.NewHash(s.put(b))
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{annotationRefType: AttestationRefType, annotationRefDigest: subject.Digest.String()}}
}

func TestResolveNestedIndexWithAttestation(t *testing.T) {
	s := store{}
	amd := s.addImage(t, platformImage(t, "linux", "amd64", "", 2), &v1.Platform{OS: "linux", Architecture: "amd64"})
	arm := s.addImage(t, platformImage(t, "linux", "arm64", "v8", 1), &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	att := attestationFor(t, s, amd)
	_, nested := index(t, s, amd, arm, att)
	top, _ := index(t, s, nested)

	r, err := Resolve(top, s.get, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != "index" || len(r.Images) != 2 || len(r.Attestations) != 1 {
		t.Fatalf("got kind %s, %d images, %d attestations; want index, 2, 1", r.Kind, len(r.Images), len(r.Attestations))
	}
	if r.Images[0].Platform != "linux/amd64" || r.Images[1].Platform != "linux/arm64/v8" {
		t.Errorf("platforms %s, %s", r.Images[0].Platform, r.Images[1].Platform)
	}
	if len(r.Images[0].DiffIDs) != 2 || len(r.Images[0].Layers) != 2 || r.Images[0].Manifest != amd.Digest.String() {
		t.Errorf("amd64 image: %+v", r.Images[0])
	}
	if a := r.Attestations[0]; a.For != amd.Digest.String() || len(a.PredicateTypes) != 1 || a.PredicateTypes[0] != "https://spdx.dev/Document" {
		t.Errorf("attestation: %+v", a)
	}
	if got := len(r.AllDiffIDs()); got != 3 {
		t.Errorf("AllDiffIDs: %d, want 3", got)
	}

	// --platform keeps one, a missing variant matching any.
	r, err = Resolve(top, s.get, "linux/arm64")
	if err != nil || len(r.Images) != 1 || r.Images[0].Platform != "linux/arm64/v8" {
		t.Fatalf("platform filter: %+v, %v", r.Images, err)
	}
	if _, err := Resolve(top, s.get, "linux/s390x"); err == nil || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("no such platform: %v", err)
	}
	if _, err := Resolve(top, s.get, "linux"); err == nil {
		t.Errorf("bad platform accepted")
	}
}

func TestResolveManifestAndConfigIDs(t *testing.T) {
	s := store{}
	img := platformImage(t, "linux", "amd64", "", 3)
	m := s.addImage(t, img, nil)
	r, err := Resolve(m.Digest.String(), s.get, "")
	if err != nil || r.Kind != "manifest" || len(r.Images) != 1 || len(r.Images[0].DiffIDs) != 3 {
		t.Fatalf("manifest ID: %+v, %v", r, err)
	}
	cn, _ := img.ConfigName()
	r, err = Resolve(cn.String(), s.get, "")
	if err != nil || r.Kind != "config" || len(r.Images) != 1 || r.Images[0].Manifest != "" || r.Images[0].Platform != "linux/amd64" {
		t.Fatalf("config ID: %+v, %v", r, err)
	}
	if got := r.LayerDiffIDs(); len(got) != 0 {
		t.Errorf("a config-only image has no layer digests: %v", got)
	}
}

// The fault of the nested-oci-index case: an index or manifest must never be read as
// a config, and "nothing found" must never come out of a blob that is not an image.
func TestResolveNeverTakesAnIndexOrManifestForAConfig(t *testing.T) {
	s := store{}
	amd := s.addImage(t, platformImage(t, "linux", "amd64", "", 1), &v1.Platform{OS: "linux", Architecture: "amd64"})
	top, _ := index(t, s, amd)

	// A manifest whose config descriptor points at the index.
	var m v1.Manifest
	_ = json.Unmarshal(s[amd.Digest.String()], &m)
	m.Config.Digest, _ = v1.NewHash(top)
	b, _ := json.Marshal(m)
	bad := s.put(b)
	if _, err := Resolve(bad, s.get, ""); err == nil || !strings.Contains(err.Error(), "not an image config") {
		t.Errorf("index as config: %v", err)
	}
	// A config whose rootfs is not "layers".
	cfg := s.put([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"","diff_ids":[]}}`))
	if _, err := Resolve(cfg, s.get, ""); err == nil || !strings.Contains(err.Error(), "rootfs.type") {
		t.Errorf("rootfs type: %v", err)
	}
	// A blob that is neither.
	other := s.put([]byte(`{"hello":"world"}`))
	if _, err := Resolve(other, s.get, ""); err == nil {
		t.Errorf("unknown JSON accepted")
	}
	// A blob whose content does not match its name.
	s["sha256:"+strings.Repeat("0", 64)] = s[top]
	if _, err := Resolve("sha256:"+strings.Repeat("0", 64), s.get, ""); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("digest mismatch: %v", err)
	}
	// Absent: an ID the archive does not hold.
	if _, err := Resolve("sha256:"+strings.Repeat("1", 64), s.get, ""); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("absent ID: %v", err)
	}
	// Manifest layers and config diff IDs disagree.
	_ = json.Unmarshal(s[amd.Digest.String()], &m)
	m.Layers = append(m.Layers, m.Layers[0])
	b, _ = json.Marshal(m)
	if _, err := Resolve(s.put(b), s.get, ""); err == nil || !strings.Contains(err.Error(), "diff IDs") {
		t.Errorf("layer count mismatch: %v", err)
	}
}

func TestResolveOnlyAttestationsOrAbsentContentIsAnError(t *testing.T) {
	s := store{}
	amd := platformImage(t, "linux", "amd64", "", 1)
	full := store{}
	desc := full.addImage(t, amd, &v1.Platform{OS: "linux", Architecture: "amd64"})
	att := attestationFor(t, s, desc)
	top, _ := index(t, s, desc, att) // the amd64 manifest is not in s: absent
	_, err := Resolve(top, s.get, "")
	if err == nil || !strings.Contains(err.Error(), "local store") {
		t.Fatalf("absent platform: %v", err)
	}
	only, _ := index(t, s, att)
	if _, err := Resolve(only, s.get, ""); err == nil || !strings.Contains(err.Error(), "nothing to scan") {
		t.Fatalf("only attestations: %v", err)
	}
	// One platform present, one absent: the present one resolves, the absent is listed.
	s2 := store{}
	d1 := s2.addImage(t, amd, &v1.Platform{OS: "linux", Architecture: "amd64"})
	d2 := full.addImage(t, platformImage(t, "linux", "arm64", "", 1), &v1.Platform{OS: "linux", Architecture: "arm64"})
	top2, _ := index(t, s2, d1, d2)
	r, err := Resolve(top2, s2.get, "")
	if err != nil || len(r.Images) != 1 || len(r.Absent) != 1 || !strings.HasPrefix(r.Absent[0], "linux/arm64 ") {
		t.Fatalf("partly absent: %+v, %v", r, err)
	}
	_ = empty.Index
}

// An image with no layers (FROM scratch with only metadata), as Docker 29 stores it:
// its manifest says "layers": null. It resolves (the scan then says there is nothing
// to scan), and is not "neither an index, a manifest nor a config".
func TestResolveImageWithoutLayers(t *testing.T) {
	s := store{}
	cfg := s.put([]byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"a":"b"}},"rootfs":{"type":"layers","diff_ids":null}}`))
	m := s.put([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg + `","size":1},"layers":null}`))
	r, err := Resolve(m, s.get, "")
	if err != nil || len(r.Images) != 1 || len(r.Images[0].DiffIDs) != 0 {
		t.Fatalf("got %+v, %v", r, err)
	}
}
