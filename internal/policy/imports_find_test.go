package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

func testdata(t *testing.T) string {
	dir := os.Getenv("SECSCAN_TESTDATA")
	if dir == "" {
		dir = "../../../shared/testdata"
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("test data not found at %s (set SECSCAN_TESTDATA)", dir)
	}
	return dir
}

func noEnv(string) string { return "" }

// alpine39 is what Trivy finds in images/alpine-39.tar.gz with its fixtures (the
// golden's six findings).
func alpine39() report.Scan {
	var fs []report.Finding
	for _, f := range [][3]string{{"CVE-2019-1549", "libcrypto1.1", "MEDIUM"}, {"CVE-2019-1551", "libcrypto1.1", "MEDIUM"},
		{"CVE-2019-1549", "libssl1.1", "MEDIUM"}, {"CVE-2019-1551", "libssl1.1", "MEDIUM"},
		{"CVE-2019-14697", "musl", "CRITICAL"}, {"CVE-2019-14697", "musl-utils", "CRITICAL"}} {
		sev, _ := report.ParseSeverity(f[2])
		fs = append(fs, report.Finding{Kind: report.KindVulnerability, VulnerabilityID: f[0], PkgName: f[1], Severity: sev,
			PURL: "pkg:apk/alpine/" + f[1] + "@1?distro=3.9.4", Target: "alpine-39 (alpine 3.9.4)", Class: "os-pkgs", Type: "alpine"})
	}
	return report.Scan{Image: report.Image{Reference: "alpine-39:latest", ID: "sha256:0559369"}, Findings: fs, DB: report.DB{UpdatedAt: now.Add(-time.Hour)}}
}

// TestCaseAllowlistYmlSpelling is cases/allowlist-yml-spelling: container-scan reads
// .github/containerscan/allowedlist.yaml and falls back to allowedlist.yml; both
// workspaces give the same result: every alpine-39 CVE excepted, the gate passes.
func TestCaseAllowlistYmlSpelling(t *testing.T) {
	dir := filepath.Join(testdata(t), "cases", "allowlist-yml-spelling")
	for _, ws := range []string{"ws-yml", "ws-yaml"} {
		imps, err := FindImports([]string{filepath.Join(dir, ws)}, noEnv)
		if err != nil || len(imps) != 1 || imps[0].Format != FormatAllowlist {
			t.Fatalf("%s: imports %+v, %v", ws, imps, err)
		}
		ex, rec, err := LoadImport(imps[0])
		if err != nil || len(ex) != 5 || rec.Exceptions != 5 || !strings.HasSuffix(rec.Path, "allowedlist."+strings.TrimPrefix(ws, "ws-")) {
			t.Fatalf("%s: %d exceptions, %+v, %v", ws, len(ex), rec, err)
		}
		p := Defaults()
		p.Exceptions = ex
		v := p.Evaluate(alpine39(), now)
		if !v.Pass || v.Excepted != 6 || v.Blocking != 0 {
			t.Errorf("%s: pass=%v excepted=%d blocking=%d: %s", ws, v.Pass, v.Excepted, v.Blocking, v.Summary)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func paths(imps []Import) string {
	var out []string
	for _, i := range imps {
		out = append(out, filepath.Base(i.Path)+"="+i.Format)
	}
	return strings.Join(out, ",")
}

// TestFindImportsWhereTheirToolsLook covers each tool's names and places.
func TestFindImportsWhereTheirToolsLook(t *testing.T) {
	const allow = "general:\n  vulnerabilities:\n    - CVE-1\n"
	t.Run("every .trivyignore spelling in the working directory", func(t *testing.T) {
		wd := t.TempDir()
		write(t, filepath.Join(wd, ".trivyignore"), "CVE-1\n")
		write(t, filepath.Join(wd, ".trivyignore.yml"), "vulnerabilities:\n  - id: CVE-2\n")
		imps, err := FindImports([]string{wd}, noEnv)
		if err != nil || paths(imps) != ".trivyignore=.trivyignore,.trivyignore.yml=.trivyignore.yaml" {
			t.Fatalf("%s %v", paths(imps), err)
		}
		ex, _, err := LoadImport(imps[1])
		if err != nil || len(ex) != 1 || ex[0].ID != "CVE-2" {
			t.Fatalf(".trivyignore.yml is YAML: %+v %v", ex, err)
		}
	})
	t.Run("TRIVY_IGNOREFILE wins, and must exist as Trivy requires", func(t *testing.T) {
		wd := t.TempDir()
		write(t, filepath.Join(wd, ".trivyignore"), "CVE-1\n")
		named := filepath.Join(t.TempDir(), "ci-ignore.yaml")
		write(t, named, "vulnerabilities:\n  - id: CVE-9\n")
		env := func(k string) string { return map[string]string{"TRIVY_IGNOREFILE": named}[k] }
		imps, err := FindImports([]string{wd}, env)
		if err != nil || len(imps) != 1 || imps[0].Path != named || imps[0].Format != FormatTrivyIgnoreYAML {
			t.Fatalf("%+v %v", imps, err)
		}
		missing := func(k string) string { return map[string]string{"TRIVY_IGNOREFILE": named + ".gone"}[k] }
		if _, err := FindImports([]string{wd}, missing); err == nil || !strings.Contains(err.Error(), "TRIVY_IGNOREFILE") {
			t.Fatalf("a missing TRIVY_IGNOREFILE: %v", err)
		}
	})
	t.Run("ignorefile in trivy.yaml", func(t *testing.T) {
		wd := t.TempDir()
		write(t, filepath.Join(wd, "trivy.yaml"), "severity: [HIGH]\nignorefile: security/ignore.txt\n")
		write(t, filepath.Join(wd, "security", "ignore.txt"), "CVE-3\n")
		imps, err := FindImports([]string{wd}, noEnv)
		if err != nil || paths(imps) != "ignore.txt=.trivyignore" {
			t.Fatalf("%s %v", paths(imps), err)
		}
	})
	t.Run("allowedlist.yml in the git root, then GITHUB_WORKSPACE", func(t *testing.T) {
		wd, root, ws := t.TempDir(), t.TempDir(), t.TempDir()
		write(t, filepath.Join(ws, ".github", "containerscan", "allowedlist.yaml"), allow)
		env := func(k string) string { return map[string]string{"GITHUB_WORKSPACE": ws}[k] }
		imps, _ := FindImports([]string{wd, root}, env)
		if len(imps) != 1 || !strings.HasPrefix(imps[0].Path, ws) {
			t.Fatalf("GITHUB_WORKSPACE: %+v", imps)
		}
		write(t, filepath.Join(root, ".github", "containerscan", "allowedlist.yml"), allow)
		imps, _ = FindImports([]string{wd, root}, env)
		if len(imps) != 1 || imps[0].Path != filepath.Join(root, ".github", "containerscan", "allowedlist.yml") {
			t.Fatalf("git root first: %+v", imps)
		}
		write(t, filepath.Join(wd, ".github", "containerscan", "allowedlist.yaml"), allow)
		imps, _ = FindImports([]string{wd, root}, env)
		if len(imps) != 1 || imps[0].Path != filepath.Join(wd, ".github", "containerscan", "allowedlist.yaml") {
			t.Fatalf("the working directory first, .yaml before .yml: %+v", imps)
		}
	})
	t.Run("nothing there", func(t *testing.T) {
		if imps, err := FindImports([]string{t.TempDir()}, noEnv); err != nil || len(imps) != 0 {
			t.Fatalf("%+v %v", imps, err)
		}
	})
}

// TestNamedAllowlistSpellings: a policy's imports.allowlist is read under the other
// spelling, or inside a folder, as container-scan would find it; a missing one fails.
func TestNamedAllowlistSpellings(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".github", "containerscan", "allowedlist.yml"), "general:\n  vulnerabilities:\n    - CVE-1\n  bestPracticeViolations:\n    - CIS-DI-0001\n")
	for _, named := range []string{".github/containerscan/allowedlist.yaml", ".github/containerscan/allowedlist.yml", ".github/containerscan", "."} {
		pol := filepath.Join(dir, ".secscan.yaml")
		write(t, pol, "imports:\n  allowlist: "+named+"\n")
		p, err := Load(pol, now)
		if err != nil {
			t.Fatalf("%s: %v", named, err)
		}
		if len(p.Exceptions) != 2 || len(p.Imported) != 1 || !strings.HasSuffix(p.Imported[0].Path, "allowedlist.yml") || p.Imported[0].Exceptions != 2 {
			t.Fatalf("%s: %+v %+v", named, p.Exceptions, p.Imported)
		}
		if named == ".github/containerscan/allowedlist.yaml" && !strings.Contains(p.Imported[0].Note, "allowedlist.yml") {
			t.Errorf("the note says which spelling was read: %+v", p.Imported[0])
		}
	}
	pol := filepath.Join(dir, ".secscan.yaml")
	write(t, pol, "imports:\n  allowlist: nowhere/allowedlist.yaml\n")
	if _, err := Load(pol, now); err == nil || !strings.Contains(err.Error(), "nowhere/allowedlist.yaml") {
		t.Fatalf("a missing allowlist: %v", err)
	}
}

// TestTrivyIgnoreYAMLSecrets: .trivyignore.yaml's secrets entries suppress secrets by
// rule ID, as Trivy's IgnoreConfig does.
func TestTrivyIgnoreYAMLSecrets(t *testing.T) {
	ex, err := ParseTrivyIgnoreYAML("i.yaml", []byte("secrets:\n  - id: aws-access-key-id\n    statement: test key\n"))
	if err != nil || len(ex) != 1 || ex[0].ID != "aws-access-key-id" || ex[0].Reason != "test key" {
		t.Fatalf("%+v %v", ex, err)
	}
	f := report.Finding{Kind: report.KindBestPractice, VulnerabilityID: "CIS-DI-0010", Aliases: []string{"aws-access-key-id"}, Target: "app:1"}
	if !ex[0].Matches(f, Scope{}) {
		t.Fatal("the secret's rule ID is not matched")
	}
}
