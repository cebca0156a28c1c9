package scanner

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	"github.com/aquasecurity/trivy/pkg/fanal/handler"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/fanal/walker"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// entry is one tar entry of a test layer: kind "dir", "file", "symlink" or "hardlink"
// (data is the content of a file, the target of a link).
type entry struct{ name, kind, data string }

func layerTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644}
		switch e.kind {
		case "dir":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case "symlink":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.data
		case "hardlink":
			h.Typeflag, h.Linkname = tar.TypeLink, e.data
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(e.data))
		}
	}
	_ = tw.Close()
	return b.Bytes()
}

func testPlan(t *testing.T) *layerPlan {
	t.Helper()
	opt := artifact.Option{DisabledAnalyzers: disabledAnalyzers(false, false), Offline: true, Parallel: 1}
	ag, err := analyzer.NewAnalyzerGroup(opt.AnalyzerOptions())
	if err != nil {
		t.Fatal(err)
	}
	hm, err := handler.NewManager(opt)
	if err != nil {
		t.Fatal(err)
	}
	return &layerPlan{analyzer: ag, handlers: hm, walker: walker.NewLayerTar(opt.WalkerOption), opt: opt}
}

// applied analyses the layers as a scan does and merges them with Trivy's applier: what
// the image holds, as the scan reports it.
func applied(t *testing.T, layers ...[]byte) ftypes.ArtifactDetail {
	t.Helper()
	p := testPlan(t)
	var blobs []ftypes.BlobInfo
	for i, l := range layers {
		b, err := (&Scanner{}).analyseLayer(context.Background(), bytes.NewReader(l), p)
		if err != nil {
			t.Fatalf("layer %d: %v", i+1, err)
		}
		b.DiffID = diffID(l)
		blobs = append(blobs, b)
	}
	return applier.ApplyLayers(blobs)
}

func diffID(l []byte) string {
	h := sha256.Sum256(l)
	return "sha256:" + hex.EncodeToString(h[:])
}

// found lists "name@version" of every OS and language package of d, sorted.
func found(d ftypes.ArtifactDetail) []string {
	var out []string
	for _, p := range d.Packages {
		v := p.Version
		if p.Release != "" {
			v += "-" + p.Release
		}
		out = append(out, p.Name+"@"+v)
	}
	for _, a := range d.Applications {
		for _, p := range a.Packages {
			out = append(out, p.Name+"@"+p.Version)
		}
	}
	slices.Sort(out)
	return out
}

const dpkgStatus = `Package: tar
Status: install ok installed
Priority: required
Section: utils
Installed-Size: 3152
Maintainer: Janos Lenart <ocsi@debian.org>
Architecture: amd64
Version: 1.34+dfsg-1.2+deb12u1
Description: GNU version of the tar archiving utility

`

func npm(name, version string) string {
	return `{"name":"` + name + `","version":"` + version + `","license":"MIT"}`
}

// TestUpperLayerReplacesWhatItsNonDirectoryEntriesName is the layer rule of Docker's
// and containerd's unpacking: a non-directory entry replaces whatever lower layers
// had at its path, a directory included, with no whiteout (case
// dir-replaced-by-symlink, aquasecurity/trivy#2637), while directories merge and a
// layer's own files are reported.
func TestUpperLayerReplacesWhatItsNonDirectoryEntriesName(t *testing.T) {
	debian := []entry{{"etc/", "dir", ""}, {"etc/debian_version", "file", "12.15\n"},
		{"etc/os-release", "file", "ID=debian\nVERSION_ID=\"12\"\n"},
		{"var/", "dir", ""}, {"var/lib/", "dir", ""}, {"var/lib/dpkg/", "dir", ""},
		{"var/lib/dpkg/status", "file", dpkgStatus}}
	app := []entry{{"app/", "dir", ""}, {"app/node_modules/", "dir", ""}, {"app/node_modules/left-pad/", "dir", ""},
		{"app/node_modules/left-pad/package.json", "file", npm("left-pad", "1.0.0")},
		{"elsewhere/", "dir", ""}, {"elsewhere/README", "file", "not a package\n"}}
	base := layerTar(t, append(slices.Clone(debian), app...)...)
	for _, tc := range []struct {
		name  string
		upper []entry
		want  []string
	}{
		{"control: no upper layer", nil, []string{"left-pad@1.0.0", "tar@1.34+dfsg-1.2+deb12u1"}},
		{"a directory replaced by a symlink", []entry{{"app", "symlink", "/elsewhere"}}, []string{"tar@1.34+dfsg-1.2+deb12u1"}},
		{"a directory replaced by a regular file", []entry{{"app", "file", "x"}}, []string{"tar@1.34+dfsg-1.2+deb12u1"}},
		{"a nested directory replaced by a symlink", []entry{{"app/node_modules/left-pad", "symlink", "../../elsewhere"}}, []string{"tar@1.34+dfsg-1.2+deb12u1"}},
		{"the OS package DB's directory replaced by a file", []entry{{"var/lib/dpkg", "file", "x"}}, []string{"left-pad@1.0.0"}},
		{"the OS package DB's directory replaced by a symlink", []entry{{"var/lib", "symlink", "/elsewhere"}}, []string{"left-pad@1.0.0"}},
		{"the OS package DB replaced by a symlink", []entry{{"var/lib/dpkg/status", "symlink", "/elsewhere/README"}}, []string{"left-pad@1.0.0"}},
		{"the OS package DB replaced by a hard link", []entry{{"var/lib/dpkg/status", "hardlink", "elsewhere/README"}}, []string{"left-pad@1.0.0"}},
		{"a package manifest replaced by a file that is none", []entry{{"app/node_modules/left-pad/package.json", "file", "{}"}}, []string{"tar@1.34+dfsg-1.2+deb12u1"}},
		{"a package manifest replaced by a new version", []entry{{"app/node_modules/left-pad/package.json", "file", npm("left-pad", "1.3.0")}}, []string{"left-pad@1.3.0", "tar@1.34+dfsg-1.2+deb12u1"}},
		{"a whiteout still removes", []entry{{"app/.wh.node_modules", "file", ""}}, []string{"tar@1.34+dfsg-1.2+deb12u1"}},
		{"an opaque directory still removes", []entry{{"app/", "dir", ""}, {"app/.wh..wh..opq", "file", ""}}, []string{"tar@1.34+dfsg-1.2+deb12u1"}},
		{"a directory over a directory merges", []entry{{"app/", "dir", ""}, {"app/node_modules/", "dir", ""}, {"app/node_modules/other.txt", "file", "x"}}, []string{"left-pad@1.0.0", "tar@1.34+dfsg-1.2+deb12u1"}},
		{"a sibling file leaves the rest", []entry{{"app/node_modules/left-pad.txt", "file", "x"}, {"var/lib/dpkg/status-old", "file", "x"}}, []string{"left-pad@1.0.0", "tar@1.34+dfsg-1.2+deb12u1"}},
		{"a symlink replaced, then a directory with a package again", []entry{{"app", "symlink", "/elsewhere"}, {"opt/", "dir", ""},
			{"opt/node_modules/left-pad/package.json", "file", npm("left-pad", "1.1.0")}}, []string{"left-pad@1.1.0", "tar@1.34+dfsg-1.2+deb12u1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layers := [][]byte{base}
			if tc.upper != nil {
				layers = append(layers, layerTar(t, tc.upper...))
			}
			if got := found(applied(t, layers...)); !slices.Equal(got, tc.want) {
				t.Fatalf("packages: got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("a later layer's directory replaces an earlier layer's symlink", func(t *testing.T) {
		l1 := layerTar(t, entry{"app", "symlink", "/elsewhere"}, entry{"elsewhere/", "dir", ""})
		l2 := layerTar(t, app[:4]...)
		if got, want := found(applied(t, l1, l2)), []string{"left-pad@1.0.0"}; !slices.Equal(got, want) {
			t.Fatalf("packages: got %q, want %q", got, want)
		}
	})
	t.Run("three layers: replaced by a symlink, then a directory again", func(t *testing.T) {
		l2 := layerTar(t, entry{"app", "symlink", "/elsewhere"})
		l3 := layerTar(t, entry{"app/", "dir", ""}, entry{"app/node_modules/", "dir", ""}, entry{"app/node_modules/b/", "dir", ""},
			entry{"app/node_modules/b/package.json", "file", npm("b", "2.0.0")})
		if got, want := found(applied(t, base, l2, l3)), []string{"b@2.0.0", "tar@1.34+dfsg-1.2+deb12u1"}; !slices.Equal(got, want) {
			t.Fatalf("packages: got %q, want %q", got, want)
		}
	})
}

// TestLayerEntriesAreRecordedAsTrivyNamesPaths checks what analyseLayer adds to a
// layer's WhiteoutFiles: each non-directory entry once, named as Trivy's walker names
// paths, whiteouts as before.
func TestLayerEntriesAreRecordedAsTrivyNamesPaths(t *testing.T) {
	l := layerTar(t, entry{"./", "dir", ""}, entry{"./a/", "dir", ""}, entry{"./a/f", "file", "x"}, entry{"/b", "symlink", "a"},
		entry{"a/h", "hardlink", "a/f"}, entry{"a/.wh.gone", "file", ""}, entry{"c/.wh..wh..opq", "file", ""}, entry{"a/f", "file", "y"})
	b, err := (&Scanner{}).analyseLayer(context.Background(), bytes.NewReader(l), testPlan(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/gone", "a/f", "a/h", "b"}; !slices.Equal(b.WhiteoutFiles, want) {
		t.Errorf("WhiteoutFiles: got %q, want %q", b.WhiteoutFiles, want)
	}
	if want := []string{"c/"}; !slices.Equal(b.OpaqueDirs, want) {
		t.Errorf("OpaqueDirs: got %q, want %q", b.OpaqueDirs, want)
	}
	// A damaged layer fails the analysis, never gives a partial record.
	if _, err := (&Scanner{}).analyseLayer(context.Background(), bytes.NewReader(l[:700]), testPlan(t)); err == nil {
		t.Error("a truncated layer was analysed")
	}
}

// TestLayerCacheKeyIsNotTrivysPlainKey: layers analysed without the layer rule (by an
// earlier version, or by Trivy) are not reused, and Trivy's image artifact computes the
// same key as layerPlan.blobKey, so it finds every layer the stream analysed (else the
// scan fails with errLayerNotKept).
func TestLayerCacheKeyIsNotTrivysPlainKey(t *testing.T) {
	p := testPlan(t)
	l := layerTar(t, entry{"app/", "dir", ""}, entry{"app/node_modules/left-pad/package.json", "file", npm("left-pad", "1.0.0")})
	d := diffID(l)
	ours, err := p.blobKey(d)
	if err != nil {
		t.Fatal(err)
	}
	plain := p.handlers.Versions()
	if _, ok := plain[string(replacedPathsHandlerType)]; !ok {
		t.Fatalf("handler versions %v lack %s", plain, replacedPathsHandlerType)
	}
	delete(plain, string(replacedPathsHandlerType))
	trivys, err := cache.CalcKey(d, trivyArtifactVersion, p.analyzer.AnalyzerVersions(), plain, p.opt)
	if err != nil {
		t.Fatal(err)
	}
	if ours == trivys {
		t.Fatal("the layer cache key is Trivy's plain key: layers cached without the layer rule would be reused")
	}

	trivyFindsLayerUnderOurKey(t, p, l, d, ours)
	if !strings.HasPrefix(ours, "sha256:") {
		t.Fatalf("key %q", ours)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// trivyFindsLayerUnderOurKey analyses layer l (diff ID d) with plan p, stores it under
// our key ours, and checks that Trivy's own image artifact computes the same key and
// finds it there: were they to differ, a streamed scan would fail closed ("layer
// content is not kept").
func trivyFindsLayerUnderOurKey(t *testing.T, p *layerPlan, l []byte, d, ours string) {
	t.Helper()
	c := cache.NewMemoryCache()
	p.cache = c
	blob, err := (&Scanner{}).analyseLayer(context.Background(), bytes.NewReader(l), p)
	if err != nil {
		t.Fatal(err)
	}
	blob.DiffID = d
	if err := c.PutBlob(context.Background(), ours, blob); err != nil {
		t.Fatal(err)
	}
	cfg := v1.ConfigFile{Architecture: "amd64", OS: "linux", RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{mustHash(t, d)}}}
	raw, _ := json.Marshal(cfg)
	id := diffID(raw)
	art, err := artimage.NewArtifact(&streamedImage{ref: Image{Reference: "x", ID: id}, config: id, raw: raw, cfg: &cfg}, c, p.opt)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := art.Inspect(context.Background())
	if err != nil {
		t.Fatalf("Trivy's image artifact does not find the layer under our key: %v", err)
	}
	if len(ref.BlobIDs) != 1 || ref.BlobIDs[0] != ours {
		t.Fatalf("Trivy's artifact keys %v, ours %s", ref.BlobIDs, ours)
	}
}
