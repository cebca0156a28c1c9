//go:build e2e

package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	gcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// engineScan runs the engine binary on an archive file, as the plugin would stream it
// (see engineRequest).
func engineScan(t *testing.T, cache, archive, id string) (engine.ScanResponse, string) {
	t.Helper()
	return engineRequest(t, engine.ScanRequest{
		DB:    engine.DBOptions{CacheDir: cache, SkipUpdate: true, NoProgress: true},
		Image: engine.Image{ArchivePath: archive, Reference: "test/image:1", ID: id},
	})
}

func scanFindings(resp engine.ScanResponse) []vuln {
	var out []vuln
	for _, f := range resp.Scan.Findings {
		out = append(out, vuln{ID: f.VulnerabilityID, Pkg: f.PkgName, Installed: f.InstalledVersion, Fixed: f.FixedVersion, Severity: f.Severity.String()})
	}
	return sortVulns(out)
}

// ociArchive writes img as Docker 25+ writes `docker save`: an OCI image layout in a
// tar, here with gzip-compressed layers (as the containerd image store keeps them).
func ociArchive(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "oci.tar")
	if b, err := exec.Command("tar", "-C", dir, "-cf", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	return out
}

// TestEngineReadsDockerSaveArchivesAsAStream feeds the engine the archive layouts
// `docker save` writes (legacy, and OCI layout with compressed layers) and damaged
// ones: the findings must equal Trivy's golden for the same image, and a damaged or
// mismatched archive must fail with a clear error, never a scan.
func TestEngineReadsDockerSaveArchivesAsAStream(t *testing.T) {
	needTestdata(t)
	cache := t.TempDir()
	if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo); r.code != 0 {
		t.Fatalf("db update: %s", r)
	}
	fresh := func() string {
		dir := t.TempDir()
		if b, err := exec.Command("cp", "-a", filepath.Join(cache, "db"), dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
		return dir
	}
	want := goldenFindings(t, "alpine-39.json.golden")
	legacy := filepath.Join(testdata, "images", "alpine-39.tar.gz")
	const alpineID = "sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"

	t.Run("legacy layout", func(t *testing.T) {
		resp, errMsg := engineScan(t, fresh(), legacy, alpineID)
		if errMsg != "" {
			t.Fatal(errMsg)
		}
		if got := scanFindings(resp); !reflect.DeepEqual(got, want) {
			t.Fatalf("findings differ from Trivy's golden:\n got %v\nwant %v", got, want)
		}
	})

	plain := filepath.Join(t.TempDir(), "alpine-39.tar")
	if b, err := exec.Command("sh", "-c", "gzip -dc "+legacy+" > "+plain).CombinedOutput(); err != nil {
		t.Fatalf("gunzip: %v %s", err, b)
	}
	base, err := tarball.ImageFromPath(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second layer on top, so that the archive holds a layer the daemon would
	// list and one it would not.
	extra := static.NewLayer(tarOf(t, map[string]string{"app/README": "hello\n"}), gcrtypes.OCIUncompressedLayer)
	img, err := mutate.AppendLayers(base, extra)
	if err != nil {
		t.Fatal(err)
	}
	cfgName, _ := img.ConfigName()
	oci := ociArchive(t, img)
	t.Run("OCI layout, gzip layers", func(t *testing.T) {
		resp, errMsg := engineScan(t, fresh(), oci, cfgName.String())
		if errMsg != "" {
			t.Fatal(errMsg)
		}
		if got := scanFindings(resp); !reflect.DeepEqual(got, want) {
			t.Fatalf("findings differ from Trivy's golden:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("wrong image", func(t *testing.T) {
		_, errMsg := engineScan(t, fresh(), legacy, cfgName.String())
		if !strings.Contains(errMsg, "no config for image") {
			t.Fatalf("want a clear error for an archive of another image, got %q", errMsg)
		}
	})

	t.Run("cut archive", func(t *testing.T) {
		b, err := os.ReadFile(oci)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(t.TempDir(), "cut.tar")
		os.WriteFile(cut, b[:len(b)/2], 0o600)
		_, errMsg := engineScan(t, fresh(), cut, cfgName.String())
		if errMsg == "" || !strings.Contains(errMsg, "archive") {
			t.Fatalf("want an error about the archive, got %q", errMsg)
		}
	})

	t.Run("missing layer", func(t *testing.T) {
		// The OCI archive without the blob of its top layer.
		d, _ := extra.Digest()
		cut := filepath.Join(t.TempDir(), "nolayer.tar")
		filterTar(t, oci, cut, func(name string) bool { return !strings.HasSuffix(name, d.Hex) })
		_, errMsg := engineScan(t, fresh(), cut, cfgName.String())
		if !strings.Contains(errMsg, "lacks layer") {
			t.Fatalf("want an error naming the missing layer, got %q", errMsg)
		}
	})

	t.Run("edge cases scan without escaping", func(t *testing.T) {
		for _, name := range []string{"basic", "overwrite-file", "symlink-attack", "symlink-cycle", "symlink-dangling", "symlink-depth-exceeded"} {
			path := filepath.Join(testdata, "images", "edge-cases", "layerscanning_image_"+name+".tar")
			img, err := tarball.ImageFromPath(path, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			id, _ := img.ConfigName()
			if _, errMsg := engineScan(t, fresh(), path, id.String()); errMsg != "" {
				t.Errorf("%s: %s", name, errMsg)
			}
		}
	})
}

// tarOf returns a layer tar holding files (path -> content).
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	return buf.Bytes()
}

// filterTar copies the tar src to dst, keeping the entries keep accepts.
func filterTar(t *testing.T, src, dst string, keep func(name string) bool) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !keep(hdr.Name) {
			continue
		}
		tw.WriteHeader(hdr)
		io.Copy(tw, tr)
	}
	tw.Close()
}

// testRescanAgainstANewDBReadsNoImage: when only the DB changed, the image's config
// and layers are in the caches, so the engine does not ask for the image at all, and
// the findings are those of the first scan.
func testRescanAgainstANewDBReadsNoImage(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/newdb:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	cache := t.TempDir()
	args := []string{"secscan", "scan", "--debug", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "-f", "json", "-o"}
	first := docker(t, nil, append(args, filepath.Join(cache, "a.json"), ref)...)
	// A new DB makes the cached scan stale; dropping the scan cache does the same.
	os.RemoveAll(filepath.Join(cache, "scans"))
	second := docker(t, nil, append(args, filepath.Join(cache, "b.json"), ref)...)
	const msg = "the image archive is not read"
	if first.code != 0 || second.code != 0 || strings.Contains(first.stderr, msg) || !strings.Contains(second.stderr, msg) {
		t.Fatalf("first:\n%s\nsecond:\n%s", first, second)
	}
	if a, b := trivyFindings(t, filepath.Join(cache, "a.json")), trivyFindings(t, filepath.Join(cache, "b.json")); !reflect.DeepEqual(a, b) || len(a) != 6 {
		t.Fatalf("findings differ: %v vs %v", a, b)
	}
}

// testNewTopLayerIsTheOnlyLayerAnalysed: after a scan of an image, a scan of an image
// built on it analyses only its new layer; the layers below come from the layer cache,
// recognised in the daemon's legacy export before they are read.
func testNewTopLayerIsTheOnlyLayerAnalysed(t *testing.T) {
	needTestdata(t)
	base := env.Registry + "/e2e/incr:base"
	loadImage(t, "images/alpine-39.tar.gz", base)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM "+base+"\nRUN echo one > /one\nRUN echo two > /two\n")
	mid := env.Registry + "/e2e/incr:mid"
	if r := docker(t, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "-t", mid, dir); r.code != 0 {
		t.Fatalf("build: %s", r)
	}
	writeFile(t, dir, "Dockerfile", "FROM "+mid+"\nRUN echo three > /three\n")
	top := env.Registry + "/e2e/incr:top"
	if r := docker(t, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "-t", top, dir); r.code != 0 {
		t.Fatalf("build: %s", r)
	}
	cache := t.TempDir()
	scan := func(ref string) result {
		r := docker(t, nil, "secscan", "scan", "--debug", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "-f", "json", "-o", filepath.Join(cache, "r.json"), ref)
		if r.code != 0 {
			t.Fatalf("scan %s: %s", ref, r)
		}
		return r
	}
	if r := scan(mid); strings.Count(r.stderr, "Layer analysed") != 3 {
		t.Fatalf("a cold scan of a three-layer image should analyse three layers:\n%s", r.stderr)
	}
	r := scan(top)
	if strings.Count(r.stderr, "Layer analysed") != 1 || strings.Count(r.stderr, "Layer found in the layer cache") != 3 {
		t.Fatalf("only the new top layer should be analysed:\n%s", r.stderr)
	}
	if got := trivyFindings(t, filepath.Join(cache, "r.json")); len(got) != 6 {
		t.Fatalf("the alpine-39 findings should stay: %v", got)
	}
}

// testJarWithoutJavaDBSaysWhatToDo: an image with a .jar needs Trivy's Java DB; with
// --skip-db-update and none in the cache the scan fails closed and says what to run.
func testJarWithoutJavaDBSaysWhatToDo(t *testing.T) {
	needTestdata(t)
	base := env.Registry + "/e2e/jar:base"
	loadImage(t, "images/alpine-39.tar.gz", base)
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("META-INF/MANIFEST.MF")
	w.Write([]byte("Manifest-Version: 1.0\n"))
	w, _ = zw.Create("META-INF/maven/org.example/app/pom.properties")
	w.Write([]byte("groupId=org.example\nartifactId=app\nversion=1.0\n"))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "app.jar"), buf.Bytes(), 0o644)
	writeFile(t, dir, "Dockerfile", "FROM "+base+"\nCOPY app.jar /app/app.jar\n")
	ref := env.Registry + "/e2e/jar:1"
	if r := docker(t, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "-t", ref, dir); r.code != 0 {
		t.Fatalf("build: %s", r)
	}
	cache := t.TempDir()
	if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo); r.code != 0 {
		t.Fatalf("db update: %s", r)
	}
	r := docker(t, nil, "secscan", "push", "--skip-db-update", "--no-progress", "--cache-dir", cache, ref)
	if r.code != 1 || registryHasTag(t, env.Registry, "e2e/jar", "1") {
		t.Fatalf("want a failed scan and nothing pushed: %s", r)
	}
	checkOneLineError(t, r, "docker secscan db update --java-db")
}

// testCachedScanUnderAnotherNameNamesThatImage: the scan cache is keyed by image ID, so
// pushing the same image under a new name reuses the scan; every report must still
// name the image as it is pushed, not as it was first scanned.
func testCachedScanUnderAnotherNameNamesThatImage(t *testing.T) {
	needTestdata(t)
	first := env.Registry + "/e2e/first:39"
	loadImage(t, "images/alpine-39.tar.gz", first)
	second := env.Registry + "/e2e/second:1"
	mustDocker(t, "tag", first, second)
	cache := t.TempDir()
	scan := func(ref, dir string) result {
		return docker(t, nil, "secscan", "scan", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo,
			"-f", "json", "-o", filepath.Join(dir, "r.json"), "--report", "sarif="+filepath.Join(dir, "r.sarif"), "--report", "cyclonedx="+filepath.Join(dir, "r.cdx.json"), ref)
	}
	if r := scan(first, t.TempDir()); r.code != 0 {
		t.Fatalf("%s", r)
	}
	dir := t.TempDir()
	if r := scan(second, dir); r.code != 0 || !strings.Contains(r.stderr, "from the cache") {
		t.Fatalf("the second scan should come from the cache: %s", r)
	}
	var j struct {
		ArtifactName string
		Results      []struct{ Target string }
	}
	var s struct {
		Runs []struct {
			Properties struct {
				ImageName string `json:"imageName"`
			} `json:"properties"`
		} `json:"runs"`
	}
	var c struct {
		Metadata struct{ Component struct{ Name string } } `json:"metadata"`
	}
	for p, v := range map[string]any{"r.json": &j, "r.sarif": &s, "r.cdx.json": &c} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if j.ArtifactName != second || len(j.Results) == 0 || !strings.HasPrefix(j.Results[0].Target, second+" (") {
		t.Errorf("JSON report names %q / %+v, want %s", j.ArtifactName, j.Results, second)
	}
	if len(s.Runs) != 1 || s.Runs[0].Properties.ImageName != second {
		t.Errorf("SARIF names %+v, want %s", s.Runs, second)
	}
	if c.Metadata.Component.Name != second {
		t.Errorf("CycloneDX names %q, want %s", c.Metadata.Component.Name, second)
	}
}

// testImportedImageSaysBestPracticesDidNotRun: an image without build history (docker
// import) gives Trivy no Dockerfile to check; the verdict must say the checks did not
// run rather than pass them in silence.
func testImportedImageSaysBestPracticesDidNotRun(t *testing.T) {
	needTestdata(t)
	dir := t.TempDir()
	writeFile(t, dir, "hello", "hi\n")
	ref := env.Registry + "/e2e/imported:1"
	imp := env.Docker(configDir, "import", "-", ref)
	tarb, err := exec.Command("tar", "-C", dir, "-c", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = bytes.NewReader(tarb)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v %s", err, out)
	}
	r := secscan(t, "scan", "--best-practices", "block", "-o", filepath.Join(dir, "r.txt"), ref)
	if r.code != 0 || !strings.Contains(r.stderr, "best-practice checks could not run") {
		t.Fatalf("want a note that the checks did not run: %s", r)
	}
}

// testReportToDevStderrKeepsTheStream: -o /dev/stderr writes the report to the
// plugin's stderr, and the messages after it still arrive there.
func testReportToDevStderrKeepsTheStream(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/stderr:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	r := secscan(t, "scan", "-f", "json", "-o", "/dev/stderr", ref)
	i, j := strings.Index(r.stderr, `"SchemaVersion"`), strings.LastIndex(r.stderr, "blocked:")
	if r.code != 0 || i < 0 || j < i || r.stdout != "" {
		t.Fatalf("want the report, then the verdict, on stderr: %s", r)
	}
}
