//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// caseDB publishes a DB built from the fixtures of ../shared/testdata/cases/NAME to
// the test registry and downloads it into a new cache folder, which it returns.
func caseDB(t *testing.T, name string) string {
	t.Helper()
	needTestdata(t)
	fixtures, _ := filepath.Glob(filepath.Join(testdata, "cases", name, "fixtures", "*.yaml"))
	if len(fixtures) == 0 {
		t.Fatalf("case %s has no fixtures", name)
	}
	repo := env.Registry + "/case-" + name + "-db"
	if err := testenv.PublishDB(ctxT(t), t.TempDir(), repo+":2", fixtures); err != nil {
		t.Fatalf("publish the case DB: %v", err)
	}
	cache := t.TempDir()
	if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", repo); r.code != 0 {
		t.Fatalf("db update: %s", r)
	}
	return cache
}

// engineRequest runs the engine binary on one scan request and returns its answer or
// its one-line error.
func engineRequest(t *testing.T, req engine.ScanRequest) (engine.ScanResponse, string) {
	t.Helper()
	realPlugin, _ := filepath.EvalSymlinks(filepath.Join(configDir, "cli-plugins", "docker-secscan"))
	in, _ := json.Marshal(req)
	cmd := exec.Command(filepath.Join(filepath.Dir(realPlugin), "secscan-engine"), "scan")
	cmd.Stdin = bytes.NewReader(append(in, '\n'))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var resp engine.ScanResponse
	if err == nil {
		if jerr := json.Unmarshal(out.Bytes(), &resp); jerr != nil {
			t.Fatalf("engine answer: %v\n%s", jerr, out.String())
		}
		return resp, ""
	}
	var er engine.ErrorResponse
	_ = json.Unmarshal(bytes.TrimSpace(out.Bytes()), &er)
	if er.Error == "" {
		t.Fatalf("engine failed without an error answer: %v\n%s\n%s", err, out.String(), errb.String())
	}
	if strings.Contains(er.Error, "\n") {
		t.Errorf("the engine's error is not one line: %q", er.Error)
	}
	return resp, er.Error
}

// platformFindings lists "platform package ID" for every vulnerability, sorted.
func platformFindings(resp engine.ScanResponse) []string {
	var out []string
	for _, f := range resp.Scan.Findings {
		out = append(out, f.Platform+" "+f.PkgName+" "+f.VulnerabilityID)
	}
	sort.Strings(out)
	return out
}

// TestNestedOCIIndexIsFollowedToEveryPlatform is the case nested-oci-index (Trivy
// #3571, #1080, and Docker 29's containerd image store): an archive whose index.json
// names a nested index of linux/amd64, linux/arm64/v8 and an attestation manifest.
// Asked for the index digest, the engine scans both platforms (3 findings each);
// for the manifest digest, that platform; never an index or manifest read as a
// config with no layers ("nothing found").
func TestNestedOCIIndexIsFollowedToEveryPlatform(t *testing.T) {
	needTestdata(t)
	caseDir := filepath.Join(testdata, "cases", "nested-oci-index")
	archive := filepath.Join(t.TempDir(), "nested.tar")
	cmd := exec.Command("python3", filepath.Join(caseDir, "make_archive.py"), filepath.Join(testdata, "rootfs", "alpine-minirootfs"), archive)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make_archive.py: %v", err)
	}
	digests := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			digests[f[0]] = f[1]
		}
	}
	cache := caseDB(t, "nested-oci-index")
	scan := func(id, platform string) (engine.ScanResponse, string) {
		dir := t.TempDir() // a fresh cache each time: every layer is read
		if b, err := exec.Command("cp", "-a", filepath.Join(cache, "db"), dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
		return engineRequest(t, engine.ScanRequest{
			DB:     engine.DBOptions{CacheDir: dir, SkipUpdate: true, NoProgress: true},
			Image:  engine.Image{ArchivePath: archive, Reference: "case08/app:3.20.3", ID: id, Platform: platform},
			Render: engine.Formats,
		})
	}
	perPlatform := func(p string) []string {
		return []string{p + " busybox CVE-2099-0801", p + " busybox-binsh CVE-2099-0801", p + " ssl_client CVE-2099-0801"}
	}

	t.Run("index: every platform", func(t *testing.T) {
		resp, errMsg := scan(digests["index-nested"], "")
		if errMsg != "" {
			t.Fatal(errMsg)
		}
		want := append(perPlatform("linux/amd64"), perPlatform("linux/arm64/v8")...)
		if got := platformFindings(resp); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("findings:\n got %q\nwant %q", got, want)
		}
		ps := resp.Scan.Image.Platforms
		if len(ps) != 2 || ps[0].Platform != "linux/amd64" || ps[1].Platform != "linux/arm64/v8" {
			t.Fatalf("platforms: %+v", ps)
		}
		for _, p := range ps {
			if p.Layers != 1 || p.Analysed != 1 || p.Packages == 0 || !strings.HasPrefix(p.OS, "alpine 3.20") || p.Manifest == "" || p.Config == "" {
				t.Errorf("platform %s does not prove what it looked at: %+v", p.Platform, p)
			}
		}
		if a := resp.Scan.Image.Attestations; len(a) != 1 || a[0].For != digests["manifest-amd64"] || a[0].Platform != "linux/amd64" {
			t.Errorf("attestations: %+v", a)
		}
		if resp.Scan.Image.ID != digests["index-nested"] {
			t.Errorf("the scan names image %s, want the index %s", resp.Scan.Image.ID, digests["index-nested"])
		}
		// Trivy's report names each platform's results apart.
		var rep struct{ Results []struct{ Target string } }
		_ = json.Unmarshal(resp.Trivy, &rep)
		if len(rep.Results) < 2 || !strings.HasSuffix(rep.Results[0].Target, "[linux/amd64]") {
			t.Errorf("Trivy report targets: %+v", rep.Results)
		}
		// Every report of a two-platform scan is well formed: CycloneDX names each
		// component once (bom-refs are unique), and lists both platforms' packages.
		var bom struct {
			Components []struct {
				BOMRef string `json:"bom-ref"`
				Name   string `json:"name"`
			} `json:"components"`
			Vulnerabilities []struct {
				ID      string `json:"id"`
				Affects []struct {
					Ref string `json:"ref"`
				} `json:"affects"`
			} `json:"vulnerabilities"`
		}
		if err := json.Unmarshal(resp.Renders["cyclonedx"], &bom); err != nil {
			t.Fatalf("CycloneDX: %v", err)
		}
		refs := map[string]int{}
		busybox := 0
		for _, c := range bom.Components {
			refs[c.BOMRef]++
			if c.Name == "busybox" {
				busybox++
			}
		}
		for r, n := range refs {
			if n > 1 {
				t.Errorf("CycloneDX bom-ref %s appears %d times", r, n)
			}
		}
		if busybox != 2 {
			t.Errorf("CycloneDX lists busybox %d times, want once per platform", busybox)
		}
		affects := 0
		for _, v := range bom.Vulnerabilities {
			affects += len(v.Affects)
		}
		if affects != 6 {
			t.Errorf("CycloneDX vulnerabilities affect %d components, want 6 (3 per platform)", affects)
		}
		var sarif struct {
			Runs []struct {
				Results []struct{ RuleID string } `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(resp.Renders["sarif"], &sarif); err != nil || len(sarif.Runs) != 1 {
			t.Fatalf("SARIF: %v", err)
		}
		if n := len(sarif.Runs[0].Results); n < 6 {
			t.Errorf("SARIF has %d results, want at least the 6 findings", n)
		}
	})
	t.Run("manifest: that platform", func(t *testing.T) {
		resp, errMsg := scan(digests["manifest-amd64"], "")
		if errMsg != "" {
			t.Fatal(errMsg)
		}
		if got, want := platformFindings(resp), perPlatform("linux/amd64"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("findings:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("--platform picks one", func(t *testing.T) {
		resp, errMsg := scan(digests["index-nested"], "linux/arm64")
		if errMsg != "" {
			t.Fatal(errMsg)
		}
		if got, want := platformFindings(resp), perPlatform("linux/arm64/v8"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("findings:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("no such platform: one-line error", func(t *testing.T) {
		if _, errMsg := scan(digests["index-nested"], "linux/s390x"); !strings.Contains(errMsg, "no linux/s390x image") {
			t.Fatalf("got %q", errMsg)
		}
	})
	t.Run("an attestation is not an image", func(t *testing.T) {
		if _, errMsg := scan(digests["config-attestation"], ""); !strings.Contains(errMsg, "attestation") {
			t.Fatalf("got %q", errMsg)
		}
	})
	t.Run("a cached re-scan reads no image and finds the same", func(t *testing.T) {
		dir := t.TempDir()
		if b, err := exec.Command("cp", "-a", filepath.Join(cache, "db"), dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
		req := engine.ScanRequest{
			DB:    engine.DBOptions{CacheDir: dir, SkipUpdate: true, NoProgress: true},
			Image: engine.Image{ArchivePath: archive, Reference: "case08/app:3.20.3", ID: digests["index-nested"]},
		}
		first, errMsg := engineRequest(t, req)
		if errMsg != "" {
			t.Fatal(errMsg)
		}
		req.Image.ArchivePath = filepath.Join(dir, "gone.tar") // must not be opened
		if err := os.WriteFile(req.Image.ArchivePath, []byte("not an archive"), 0o600); err != nil {
			t.Fatal(err)
		}
		again, errMsg := engineRequest(t, req)
		if errMsg != "" {
			t.Fatalf("re-scan: %s", errMsg)
		}
		if strings.Join(platformFindings(again), "\n") != strings.Join(platformFindings(first), "\n") {
			t.Fatalf("re-scan differs:\n%q\n%q", platformFindings(again), platformFindings(first))
		}
		for _, p := range again.Scan.Image.Platforms {
			if p.Analysed != 0 {
				t.Errorf("%s: %d layers analysed again", p.Platform, p.Analysed)
			}
		}
	})
}
