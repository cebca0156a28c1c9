//go:build e2e

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Image identity on both image stores (issue: the gate failed open on Docker 29): what
// is scanned is what the push sends, whatever the image ID names.
func init() {
	daemonTests = append(daemonTests, []daemonTest{
		{"PushedDigestIsTheScannedImage", testPushedDigestIsTheScannedImage},
		{"BuildKitImagesWithAndWithoutProvenance", testBuildKitImagesWithAndWithoutProvenance},
		{"TwoPlatformImageBlockedWhenOnePlatformIs", testTwoPlatformImageBlockedWhenOnePlatformIs},
		{"SBOMAttestationIsReported", testSBOMAttestationIsReported},
		{"PlatformAddedAfterAScanIsScannedBeforeThePush", testPlatformAddedAfterAScanIsScannedBeforeThePush},
		{"BuildKitBuildOnAlpine39MatchesTrivysGolden", testBuildKitBuildOnAlpine39MatchesTrivysGolden},
		{"PushPlatformOnEachEngine", testPushPlatformOnEachEngine},
	}...)
}

// containerdStore reports whether the engine under test keeps images in the containerd
// image store (Docker 29's default), where the image ID names an index or manifest.
func containerdStore(t *testing.T) bool {
	t.Helper()
	r := mustDocker(t, "info", "--format", "{{json .DriverStatus}}")
	return strings.Contains(r.stdout, "io.containerd.snapshotter")
}

// needBuildKitStore skips unless the engine builds with BuildKit through buildx into the
// containerd image store (Docker 29 here; Debian's 20.10 has neither).
func needBuildKitStore(t *testing.T) {
	t.Helper()
	if !containerdStore(t) {
		t.Skipf("engine %s keeps images in the classic store: no multi-platform images or attestations there", env.Engine)
	}
	if r := docker(t, nil, "buildx", "version"); r.code != 0 {
		t.Skipf("no buildx for engine %s", env.Engine)
	}
}

// registryTagDigest is the digest the registry serves for repo:tag (Docker-Content-Digest).
func registryTagDigest(t *testing.T, registry, repo, tag string) string {
	t.Helper()
	ref, err := name.NewTag(registry+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

// checkPushedIsScanned asserts that repo:tag in the registry is the local image id:
// on the containerd store the tag's digest is the ID (index or manifest), on the
// classic store the pushed manifest's config digest is.
func checkPushedIsScanned(t *testing.T, registry, repo, tag, id string) {
	t.Helper()
	if containerdStore(t) {
		if got := registryTagDigest(t, registry, repo, tag); got != id {
			t.Fatalf("the registry's digest for %s:%s is %s, the local image ID %s", repo, tag, got, id)
		}
		return
	}
	if got := manifestConfigDigest(t, registry, repo, tag); got != id {
		t.Fatalf("pushed config digest %s, image ID %s", got, id)
	}
}

// secscanImage is the image part of a secscan-json report.
type secscanImage struct {
	Image struct {
		ID        string
		Platforms []struct {
			Platform, Manifest, Config, OS string
			Layers, Analysed, Packages     int
		}
		Attestations []struct {
			Manifest, For, Platform string
			PredicateTypes          []string
			SBOMPackages            int
		}
	}
	Verdict struct {
		Pass  bool
		Notes []string
	}
	Findings []struct {
		Finding     struct{ Kind, VulnerabilityID, PkgName, Platform string }
		Disposition string
	}
}

func readSecscanImage(t *testing.T, path string) secscanImage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r secscanImage
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// A loaded legacy archive (a synthesised manifest on the containerd store, a config on
// the classic store): blocked with Trivy's golden findings, nothing in the registry;
// a clean one pushed, and the registry holds exactly the scanned image.
func testPushedDigestIsTheScannedImage(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/identity:vuln"
	id := loadImage(t, "images/alpine-39.tar.gz", ref)
	report := filepath.Join(t.TempDir(), "r.json")
	r := secscan(t, "push", "-f", "secscan-json", "-o", report, ref)
	if r.code != 2 {
		t.Fatalf("alpine 3.9 must be blocked (exit 2): %s", r)
	}
	if registryHasTag(t, env.Registry, "e2e/identity", "vuln") {
		t.Fatal("a blocked image reached the registry")
	}
	rep := readSecscanImage(t, report)
	if rep.Image.ID != id || len(rep.Image.Platforms) != 1 {
		t.Fatalf("scanned %s with platforms %+v, want %s with one", rep.Image.ID, rep.Image.Platforms, id)
	}
	if p := rep.Image.Platforms[0]; p.Platform != "linux/amd64" || p.Layers != 1 || p.Packages == 0 || !strings.HasPrefix(p.OS, "alpine 3.9") {
		t.Fatalf("the scan does not say what it looked at: %+v", p)
	}

	clean := env.Registry + "/e2e/identity:clean"
	cid := loadImage(t, "images/alpine-3.10.4.tar.gz", clean)
	if r := secscan(t, "push", "--severity-threshold", "CRITICAL", clean); r.code != 0 {
		t.Fatalf("push of alpine 3.10.4 with threshold CRITICAL: %s", r)
	}
	checkPushedIsScanned(t, env.Registry, "e2e/identity", "clean", cid)
}

// BuildKit builds of appContext (build_test.go: a FROM-scratch Alpine 3.9 image whose
// musl is vulnerable, 1.1.20-r4, or fixed, 1.1.20-r5), with BuildKit's default
// provenance attestation (the image ID names an index) and without (a manifest): the
// vulnerable one is blocked, the fixed one is pushed as the very image scanned.
func testBuildKitImagesWithAndWithoutProvenance(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	for _, tc := range []struct {
		name, provenance, kind string
	}{
		{"provenance (index)", "", "index"},
		{"--provenance=false (manifest)", "--provenance=false", "manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := strings.Trim(strings.ReplaceAll(tc.kind, " ", "-"), "-")
			ref := env.Registry + "/e2e/bk:" + tag
			report := filepath.Join(t.TempDir(), "r.json")
			args := []string{"build", "--push", "-t", ref, "--report", "secscan-json=" + report}
			if tc.provenance != "" {
				args = append(args, tc.provenance)
			}
			r := secscan(t, append(args, appContext(t, "1.1.20-r4", ""))...)
			if r.code != 2 {
				t.Fatalf("a vulnerable BuildKit build must be blocked (exit 2): %s", r)
			}
			if registryHasTag(t, env.Registry, "e2e/bk", tag) {
				t.Fatal("a blocked image reached the registry")
			}
			rep := readSecscanImage(t, report)
			blocking := 0
			for _, f := range rep.Findings {
				if f.Disposition == "blocking" {
					blocking++
				}
			}
			if blocking == 0 || len(rep.Image.Platforms) != 1 || rep.Image.Platforms[0].Layers != 1 {
				t.Fatalf("want blocking findings in one platform image of one layer: %d blocking, %+v", blocking, rep.Image.Platforms)
			}
			mt := mustDocker(t, "image", "inspect", "--format", "{{.Descriptor.MediaType}}", ref).stdout
			if !strings.Contains(mt, tc.kind) {
				t.Fatalf("the local image is a %s, want an %s", strings.TrimSpace(mt), tc.kind)
			}
			if tc.kind == "index" && len(rep.Image.Attestations) == 0 {
				t.Fatalf("a BuildKit build with provenance carries an attestation; the report lists none")
			}
			if tc.kind == "manifest" && len(rep.Image.Attestations) != 0 {
				t.Fatalf("no attestation expected: %+v", rep.Image.Attestations)
			}

			cleanRef := env.Registry + "/e2e/bk:" + tag + "-clean"
			cargs := []string{"build", "--push", "-t", cleanRef}
			if tc.provenance != "" {
				cargs = append(cargs, tc.provenance)
			}
			if r := secscan(t, append(cargs, appContext(t, "1.1.20-r5", ""))...); r.code != 0 {
				t.Fatalf("a clean BuildKit build must be pushed: %s", r)
			}
			checkPushedIsScanned(t, env.Registry, "e2e/bk", tag+"-clean", imageID(t, cleanRef))
		})
	}
}

// twoPlatformContext is a build context for `--platform linux/amd64,linux/arm64` that
// needs no emulation (ADD and COPY only): Alpine 3.20.3's real minirootfs of each
// architecture; busybox (and busybox-binsh, ssl_client) vulnerable to the
// nested-oci-index case's made-up CVE-2099-0801 on arm64 only, since amd64's apk DB
// says 1.36.1-r99, the fixed version.
func twoPlatformContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(testdata, "rootfs", "alpine-minirootfs")
	for arch, src := range map[string]string{"amd64": "alpine-minirootfs-3.20.3-x86_64.tar.gz", "arm64": "alpine-minirootfs-3.20.3-aarch64.tar.gz"} {
		b, err := os.ReadFile(filepath.Join(rootfs, src))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "rootfs-"+arch+".tar.gz", string(b))
		installed := apkInstalled(t, filepath.Join(rootfs, src))
		if arch == "amd64" {
			installed = strings.ReplaceAll(installed, "V:1.36.1-r29\n", "V:1.36.1-r99\n")
		}
		writeFile(t, dir, "installed-"+arch, installed)
	}
	writeFile(t, dir, "Dockerfile", "FROM scratch\nARG TARGETARCH\nADD rootfs-${TARGETARCH}.tar.gz /\nCOPY installed-${TARGETARCH} /lib/apk/db/installed\nUSER 1000\n")
	return dir
}

// apkInstalled returns lib/apk/db/installed of an Alpine rootfs tarball.
func apkInstalled(t *testing.T, tgz string) string {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no lib/apk/db/installed in %s: %v", tgz, err)
		}
		if strings.TrimPrefix(h.Name, "./") == "lib/apk/db/installed" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "V:1.36.1-r29\n") {
				t.Fatalf("%s: busybox is not 1.36.1-r29 as the case's advisory expects", tgz)
			}
			return string(b)
		}
	}
}

// A two-platform image (BuildKit, containerd store) with one vulnerable platform is
// blocked, both platforms are in the report, the findings name arm64; --platform
// linux/amd64 scans and pushes only the clean one, and the registry then holds that
// platform's manifest.
func testTwoPlatformImageBlockedWhenOnePlatformIs(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	cache := caseDB(t, "nested-oci-index")
	ref := env.Registry + "/e2e/multi:1"
	if r := docker(t, nil, "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", ref, twoPlatformContext(t)); r.code != 0 {
		t.Fatalf("two-platform build: %s", r)
	}
	id := imageID(t, ref)
	report := filepath.Join(t.TempDir(), "r.json")
	r := docker(t, nil, "secscan", "push", "--no-progress", "--skip-db-update", "--cache-dir", cache, "-f", "secscan-json", "-o", report, ref)
	if r.code != 2 {
		t.Fatalf("one vulnerable platform must block the push (exit 2): %s", r)
	}
	if registryHasTag(t, env.Registry, "e2e/multi", "1") {
		t.Fatal("a blocked image reached the registry")
	}
	rep := readSecscanImage(t, report)
	var plats []string
	for _, p := range rep.Image.Platforms {
		plats = append(plats, p.Platform)
		if p.Layers != 2 || p.Packages == 0 || !strings.HasPrefix(p.OS, "alpine 3.20") {
			t.Errorf("platform %s does not say what was looked at: %+v", p.Platform, p)
		}
	}
	sort.Strings(plats)
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("platforms scanned: %v (image %s), want linux/amd64 and linux/arm64", plats, id)
	}
	var found []string
	for _, f := range rep.Findings {
		if f.Finding.Kind == "vulnerability" {
			found = append(found, f.Finding.Platform+" "+f.Finding.PkgName+" "+f.Finding.VulnerabilityID+" "+f.Disposition)
		}
	}
	sort.Strings(found)
	want := []string{"linux/arm64 busybox CVE-2099-0801 blocking", "linux/arm64 busybox-binsh CVE-2099-0801 blocking", "linux/arm64 ssl_client CVE-2099-0801 blocking"}
	if strings.Join(found, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n got %q\nwant %q", found, want)
	}

	// One platform: scanned and pushed alone.
	r = docker(t, nil, "secscan", "push", "--platform", "linux/amd64", "--no-progress", "--skip-db-update", "--cache-dir", cache, "-f", "secscan-json", "-o", report, ref)
	if r.code != 0 {
		t.Fatalf("--platform linux/amd64 (clean) must be pushed: %s", r)
	}
	rep = readSecscanImage(t, report)
	if len(rep.Image.Platforms) != 1 || rep.Image.Platforms[0].Platform != "linux/amd64" {
		t.Fatalf("--platform linux/amd64 scanned %+v", rep.Image.Platforms)
	}
	if got, want := registryTagDigest(t, env.Registry, "e2e/multi", "1"), rep.Image.Platforms[0].Manifest; got != want {
		t.Fatalf("the registry holds %s, want the amd64 manifest %s", got, want)
	}
}

// A build with an SBOM attestation (a local stand-in generator: no Docker Hub here):
// the report lists the attestation with its package count, and they agree with the
// scan's.
func testSBOMAttestationIsReported(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	gen, err := env.BuildSBOMScanner(ctxT(t), filepath.Join(testdata, "rootfs", "alpine-minirootfs", "alpine-minirootfs-3.20.3-x86_64.tar.gz"))
	if err != nil {
		t.Fatalf("SBOM generator: %v", err)
	}
	ref := env.Registry + "/e2e/sbom:1"
	report := filepath.Join(t.TempDir(), "r.json")
	r := secscan(t, "build", "-t", ref, "--attest", "type=sbom,generator="+gen, "--report", "secscan-json="+report, appContext(t, "1.1.20-r5", ""))
	if r.code != 0 {
		t.Fatalf("build with an SBOM attestation: %s", r)
	}
	rep := readSecscanImage(t, report)
	var sbom *struct {
		Manifest, For, Platform string
		PredicateTypes          []string
		SBOMPackages            int
	}
	for i, a := range rep.Image.Attestations {
		if a.SBOMPackages >= 0 {
			sbom = &rep.Image.Attestations[i]
		}
	}
	if sbom == nil {
		t.Fatalf("no SBOM attestation in the report: %+v", rep.Image.Attestations)
	}
	if sbom.Platform != "linux/amd64" || sbom.SBOMPackages != rep.Image.Platforms[0].Packages {
		t.Fatalf("SBOM attestation %+v, scan found %d packages", *sbom, rep.Image.Platforms[0].Packages)
	}
	for _, n := range rep.Verdict.Notes {
		if strings.Contains(n, "SBOM") {
			t.Fatalf("counts agree, yet a note says: %s", n)
		}
	}
}

// withoutPlatform copies a `docker save` archive of a multi-platform image leaving out
// the manifest, config and layers of one platform: loaded, it gives the same image ID
// (the index) with that platform absent, as a single-platform pull of a
// multi-platform image does.
func withoutPlatform(t *testing.T, full, dst, arch string) {
	t.Helper()
	blobs := map[string][]byte{}
	f, err := os.Open(full)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		entries = append(entries, entry{h, b})
		if strings.HasPrefix(h.Name, "blobs/sha256/") {
			blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = b
		}
	}
	drop := map[string]bool{}
	for _, b := range blobs {
		var idx struct {
			Manifests []struct {
				Digest   string
				Platform *struct{ Architecture string }
			}
		}
		if json.Unmarshal(b, &idx) != nil {
			continue
		}
		for _, m := range idx.Manifests {
			if m.Platform == nil || m.Platform.Architecture != arch {
				continue
			}
			var man struct {
				Config struct{ Digest string }
				Layers []struct{ Digest string }
			}
			if json.Unmarshal(blobs[m.Digest], &man) != nil {
				t.Fatalf("manifest %s not in the archive", m.Digest)
			}
			drop[m.Digest], drop[man.Config.Digest] = true, true
			for _, l := range man.Layers {
				drop[l.Digest] = true
			}
		}
	}
	if len(drop) == 0 {
		t.Fatalf("no %s image in %s", arch, full)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	for _, e := range entries {
		if drop["sha256:"+strings.TrimPrefix(e.hdr.Name, "blobs/sha256/")] {
			continue
		}
		if err := tw.WriteHeader(e.hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// The same image ID gains a platform after a scan (the index was pulled or loaded
// with one platform, the other came later): the cached scan of the one platform must
// not pass the push, which now sends both. Found by a new user: the vulnerable arm64
// image was pushed under a cached "passed".
func testPlatformAddedAfterAScanIsScannedBeforeThePush(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	cache := caseDB(t, "nested-oci-index")
	ref := env.Registry + "/e2e/grow:1"
	if r := docker(t, nil, "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", ref, twoPlatformContext(t)); r.code != 0 {
		t.Fatalf("two-platform build: %s", r)
	}
	id := imageID(t, ref)
	dir := t.TempDir()
	full, partial := filepath.Join(dir, "full.tar"), filepath.Join(dir, "amd64-only.tar")
	mustDocker(t, "save", "-o", full, ref)
	withoutPlatform(t, full, partial, "arm64")
	mustDocker(t, "rmi", ref)
	mustDocker(t, "load", "-i", partial)
	if got := imageID(t, ref); got != id {
		t.Fatalf("the partial load names %s, want the same index %s", got, id)
	}
	args := []string{"--no-progress", "--skip-db-update", "--cache-dir", cache}
	if r := docker(t, nil, append([]string{"secscan", "scan"}, append(args, ref)...)...); r.code != 0 || !strings.Contains(r.stdout, "linux/arm64") {
		t.Fatalf("a scan of the amd64 platform alone passes and names arm64 as absent: %s", r)
	}
	mustDocker(t, "load", "-i", full) // arm64 arrives, same image ID
	report := filepath.Join(dir, "r.json")
	r := docker(t, nil, append([]string{"secscan", "push", "-f", "secscan-json", "-o", report}, append(args, ref)...)...)
	if r.code != 2 {
		t.Fatalf("the vulnerable arm64 platform, now present, must block the push (exit 2): %s", r)
	}
	if registryHasTag(t, env.Registry, "e2e/grow", "1") {
		t.Fatal("an image with an unscanned platform reached the registry")
	}
	if rep := readSecscanImage(t, report); len(rep.Image.Platforms) != 2 {
		t.Fatalf("the push's scan covered %+v, want both platforms", rep.Image.Platforms)
	}
}

// `docker secscan build --push` of `FROM alpine:3.9` (the loaded alpine-39 image) built
// by BuildKit, the case that passed and pushed CRITICAL findings on Docker 29: blocked
// (exit 2), nothing in the registry, and the findings are Trivy's golden ones.
func testBuildKitBuildOnAlpine39MatchesTrivysGolden(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	base := "alpine:3.9"
	loadImage(t, "images/alpine-39.tar.gz", base)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM "+base+"\nLABEL org.opencontainers.image.title=app\n")
	ref := env.Registry + "/e2e/bk39:1"
	report := filepath.Join(dir, "r.json")
	r := secscan(t, "build", "--push", "-t", ref, "--report", "json="+report, dir)
	if r.code != 2 {
		t.Fatalf("a BuildKit build on alpine 3.9 must be blocked (exit 2): %s", r)
	}
	if registryHasTag(t, env.Registry, "e2e/bk39", "1") {
		t.Fatal("a blocked image reached the registry")
	}
	if mt := mustDocker(t, "image", "inspect", "--format", "{{.Descriptor.MediaType}}", ref).stdout; !strings.Contains(mt, "index") {
		t.Fatalf("BuildKit's image is a %s, want an index (provenance attached)", strings.TrimSpace(mt))
	}
	if got, want := trivyFindings(t, report), goldenFindings(t, "alpine-39.json.golden"); !reflect.DeepEqual(got, want) {
		t.Fatalf("findings differ from Trivy's golden:\n got %v\nwant %v", got, want)
	}
}

// push --platform on each engine: a daemon older than API 1.46 (Debian's 20.10 speaks
// 1.41) cannot push one platform, which is said before any scan; Docker 29 scans and
// pushes that platform of a single-platform image, the registry then naming its manifest.
func testPushPlatformOnEachEngine(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/platform:1"
	id := loadImage(t, "images/alpine-3.10.4.tar.gz", ref)
	r := secscan(t, "push", "--platform", "linux/amd64", ref)
	if strings.HasPrefix(env.Engine, "20.") {
		if r.code != 1 || !strings.Contains(r.stderr, "--platform needs Docker API 1.46") || strings.Contains(r.stderr, "Scanning") {
			t.Fatalf("want a one-line refusal before the scan (exit 1): %s", r)
		}
		if registryHasTag(t, env.Registry, "e2e/platform", "1") {
			t.Fatal("pushed although refused")
		}
		return
	}
	if r.code != 0 {
		t.Fatalf("push --platform linux/amd64: %s", r)
	}
	checkPushedIsScanned(t, env.Registry, "e2e/platform", "1", id)
}
