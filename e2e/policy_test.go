//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decision is one finding of a secscan-json report.
type decision struct {
	Finding struct {
		Kind, VulnerabilityID, PkgName, InstalledVersion, FixedVersion string
		Severity                                                       string
		Aliases                                                        []string
	}
	Disposition string
	Note        string
}

type secscanJSON struct {
	Verdict struct {
		Pass     bool
		Summary  string
		Excepted int
		Notes    []string
	}
	Findings []decision
}

func readSecscanJSON(t *testing.T, path string) secscanJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r secscanJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// vulnsWith returns the vulnerability findings whose disposition is one of disp.
func vulnsWith(r secscanJSON, disp ...string) []vuln {
	var out []vuln
	for _, d := range r.Findings {
		if d.Finding.Kind != "vulnerability" {
			continue
		}
		for _, x := range disp {
			if d.Disposition == x {
				f := d.Finding
				out = append(out, vuln{f.VulnerabilityID, f.PkgName, f.InstalledVersion, f.FixedVersion, f.Severity})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.Join([]string{out[i].ID, out[i].Pkg}, " ") < strings.Join([]string{out[j].ID, out[j].Pkg}, " ")
	})
	return out
}

func sortVulns(v []vuln) []vuln {
	sort.Slice(v, func(i, j int) bool {
		return strings.Join([]string{v[i].ID, v[i].Pkg}, " ") < strings.Join([]string{v[j].ID, v[j].Pkg}, " ")
	})
	return v
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testPolicyHighCriticalOnlyFixedMatchesGolden(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/policy:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	dir := t.TempDir()
	pol := writeFile(t, dir, "p.yaml", "version: 1\ngate:\n  block: HIGH\n  only-fixed: true\n")
	want := sortVulns(goldenFindings(t, "alpine-39-high-critical.json.golden"))
	for name, args := range map[string][]string{
		"policy file": {"--policy", pol},
		"flags":       {"--severity-threshold", "HIGH", "--ignore-unfixed"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			r := secscan(t, append(append([]string{"push", "-f", "secscan-json", "-o", out}, args...), ref)...)
			if r.code != 2 {
				t.Fatalf("want exit 2: %s", r)
			}
			if got := vulnsWith(readSecscanJSON(t, out), "blocking"); !reflect.DeepEqual(got, want) {
				t.Fatalf("blocking findings differ from Trivy's golden:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func testExceptionsFromEveryFormatMatchGolden(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/except:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	want := sortVulns(goldenFindings(t, "alpine-39-ignore-cveids.json.golden"))
	exp := time.Now().AddDate(0, 1, 0).Format("2006-01-02")

	dir := t.TempDir()
	writeFile(t, dir, "policy/p.yaml", "exceptions:\n  - id: CVE-2019-1549\n    reason: fork() is never used\n    expires: "+exp+"\n    owner: platform\n  - id: CVE-2019-14697\n    package: musl\n    reason: no x87 on amd64\n    expires: "+exp+"\n  - id: CVE-2019-14697\n    package: musl-utils\n    reason: no x87 on amd64\n    expires: "+exp+"\n")
	writeFile(t, dir, "allow/.github/containerscan/allowedlist.yaml", "general:\n  vulnerabilities:\n    - CVE-2019-1549\n    - CVE-2019-14697\n  bestPracticeViolations:\n    - CIS-DI-0001\n")
	writeFile(t, dir, "allow/p.yaml", "imports:\n  allowlist: .github/containerscan/allowedlist.yaml\n")
	writeFile(t, dir, "trivyignore/.trivyignore", "# accepted\nCVE-2019-1549 exp:"+exp+"\nCVE-2019-14697\n")
	product := "pkg:oci/except?repository_url=" + env.Registry + "/e2e/except"
	writeFile(t, dir, "vex/app.openvex.json", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"e2e","timestamp":"2026-01-01T00:00:00Z","version":1,
"statements":[
 {"vulnerability":{"name":"CVE-2019-1549"},"products":[{"@id":"`+product+`"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"},
 {"vulnerability":{"name":"CVE-2019-14697"},"products":[{"@id":"`+product+`","subcomponents":[{"@id":"pkg:apk/alpine/musl"},{"@id":"pkg:apk/alpine/musl-utils"}]}],"status":"not_affected","justification":"vulnerable_code_not_present"},
 {"vulnerability":{"name":"CVE-2019-1549"},"products":[{"@id":"pkg:oci/some-other-image"}],"status":"not_affected","justification":"component_not_present"},
 {"vulnerability":{"name":"CVE-2019-1551"},"products":[{"@id":"`+product+`"}],"status":"under_investigation"}]}`)

	cases := []struct {
		name, wd string
		args     []string
	}{
		{"policy file", "", []string{"--policy", filepath.Join(dir, "policy/p.yaml")}},
		{"container-scan allowedlist", "", []string{"--policy", filepath.Join(dir, "allow/p.yaml")}},
		{".trivyignore found in the working directory", filepath.Join(dir, "trivyignore"), nil},
		{"OpenVEX", "", []string{"--vex", filepath.Join(dir, "vex/app.openvex.json")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			trivyOut := filepath.Join(t.TempDir(), "trivy.json")
			args := append(append([]string{"scan", "-f", "secscan-json", "-o", out}, c.args...), ref)
			r := dockerIn(t, c.wd, configDir, nil, secscanArgs(args...)...)
			if r.code != 0 {
				t.Fatalf("scan: %s", r)
			}
			rep := readSecscanJSON(t, out)
			if got := vulnsWith(rep, "blocking", "warning", "below-threshold", "unfixed"); !reflect.DeepEqual(got, want) {
				t.Fatalf("findings left after exceptions differ from Trivy's golden:\n got %v\nwant %v\n%s", got, want, r)
			}
			if rep.Verdict.Excepted < 4 {
				t.Fatalf("want at least 4 excepted findings: %+v", rep.Verdict)
			}
			// Trivy's JSON report leaves the excepted findings out, as Trivy does.
			args = append(append([]string{"scan", "-f", "json", "-o", trivyOut}, c.args...), ref)
			if r := dockerIn(t, c.wd, configDir, nil, secscanArgs(args...)...); r.code != 0 {
				t.Fatalf("scan: %s", r)
			}
			if got := trivyFindings(t, trivyOut); !reflect.DeepEqual(got, want) {
				t.Fatalf("Trivy JSON findings:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func testExpiredExceptionBlocks(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/expired:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	dir := t.TempDir()
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	soon := time.Now().UTC().AddDate(0, 0, 3).Format("2006-01-02")
	pol := writeFile(t, dir, "p.yaml", "gate:\n  block: CRITICAL\nexception-rules:\n  warn-before: 7d\nexceptions:\n  - id: CVE-2019-14697\n    reason: accepted last quarter\n    expires: "+yesterday+"\n")
	out := filepath.Join(dir, "r.json")
	r := secscan(t, "push", "--policy", pol, "-f", "secscan-json", "-o", out, ref)
	if r.code != 2 || !strings.Contains(r.stderr, "expired on "+yesterday) {
		t.Fatalf("an expired exception must not apply, and say so: %s", r)
	}
	pol = writeFile(t, dir, "p2.yaml", "gate:\n  block: CRITICAL\nexception-rules:\n  warn-before: 7d\nexceptions:\n  - id: CVE-2019-14697\n    reason: accepted\n    expires: "+soon+"\n")
	r = secscan(t, "scan", "--exit-code", "--policy", pol, ref)
	if r.code != 0 || !strings.Contains(r.stderr, "expires in") {
		t.Fatalf("an exception expiring soon applies and warns: %s", r)
	}
	if !strings.Contains(r.stdout, "excepted") {
		t.Fatalf("the table shows no excepted finding: %s", r)
	}
	t.Logf("table:\n%s", r.stdout)
}

func testBestPracticeChecksUseDockleIDs(t *testing.T) {
	needTestdata(t)
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(testdata, "rootfs", "alpine-minirootfs", "alpine-minirootfs-3.20.3-x86_64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rootfs.tar.gz"), b, 0o644)
	// No USER, and a credential in ENV: Dockle's CIS-DI-0001 and CIS-DI-0010.
	writeFile(t, dir, "Dockerfile", "FROM scratch\nADD rootfs.tar.gz /\nENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nCMD [\"/bin/sh\"]\n")
	ref := env.Registry + "/e2e/bestpractice:1"
	mustDocker(t, "build", "-q", "-t", ref, dir)

	out := filepath.Join(dir, "r.json")
	r := secscan(t, "push", "--best-practices", "block", "-f", "secscan-json", "-o", out, ref)
	if r.code != 2 {
		t.Fatalf("best-practices block should block: %s", r)
	}
	ids := map[string]string{}
	for _, d := range readSecscanJSON(t, out).Findings {
		if d.Finding.Kind == "best-practice" {
			ids[d.Finding.VulnerabilityID] = d.Disposition
		}
	}
	t.Logf("best-practice findings: %v", ids)
	if ids["CIS-DI-0001"] != "blocking" || ids["CIS-DI-0010"] != "blocking" {
		t.Fatalf("want CIS-DI-0001 and CIS-DI-0010 blocking, got %v", ids)
	}

	// An allowlist entry for those IDs silences them and the image is pushed.
	allow := writeFile(t, dir, "allowedlist.yaml", "general:\n  bestPracticeViolations:\n    - CIS-DI-0001\n    - CIS-DI-0010\n    - CIS-DI-0006\n")
	// (Trivy's fixture DB has no data for Alpine 3.20, the release of this image.)
	pol := writeFile(t, dir, "p.yaml", "gate:\n  best-practices: block\n  on-unsupported-os: warn\nimports:\n  allowlist: "+allow+"\n")
	r = secscan(t, "push", "--policy", pol, "-f", "secscan-json", "-o", out, ref)
	if r.code != 0 {
		t.Fatalf("allowlisted best practices should pass: %s", r)
	}
	for _, d := range readSecscanJSON(t, out).Findings {
		if d.Finding.Kind == "best-practice" && d.Disposition == "blocking" {
			t.Fatalf("%s still blocks", d.Finding.VulnerabilityID)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "wJalrXUtnFEMI") {
		t.Fatal("the secret from ENV appears in the output")
	}
}

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "gate:\n  block: CRITICAL\n  warn: MEDIUM\n")
	r := docker(t, nil, "secscan", "policy", "check", good)
	if r.code != 0 || !strings.Contains(r.stdout, `"block": "CRITICAL"`) {
		t.Fatalf("policy check: %s", r)
	}
	bad := writeFile(t, dir, "bad.yaml", "gate:\n  block: HIGH\n  colour: red\n")
	r = docker(t, nil, "secscan", "policy", "check", bad)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	checkOneLineError(t, r, "bad.yaml:3")
}

func testOnScanError(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/scanerror:1"
	loadImage(t, "images/alpine-3.10.4.tar.gz", ref)
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	noDB := []string{"secscan", "push", "--no-progress", "--cache-dir", t.TempDir(), "--db-repository", "127.0.0.1:" + strconv.Itoa(port) + "/none"}

	// Default: fail closed.
	r := docker(t, nil, append(noDB, ref)...)
	if r.code != 1 || registryHasTag(t, env.Registry, "e2e/scanerror", "1") {
		t.Fatalf("a failed scan must push nothing by default: %s", r)
	}
	// on-scan-error: warn is the user's explicit choice to fail open.
	pol := writeFile(t, t.TempDir(), "p.yaml", "gate:\n  on-scan-error: warn\n")
	r = docker(t, nil, append(noDB, "--policy", pol, ref)...)
	if r.code != 0 || !strings.Contains(r.stderr, "UNSCANNED") || !registryHasTag(t, env.Registry, "e2e/scanerror", "1") {
		t.Fatalf("on-scan-error: warn pushes with a warning: %s", r)
	}
}
