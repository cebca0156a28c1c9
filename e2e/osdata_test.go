//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// osdReport is what these tests read of a secscan-json report.
type osdReport struct {
	Image   report.Image `json:"image"`
	Verdict struct {
		Pass    bool     `json:"pass"`
		Summary string   `json:"summary"`
		Notes   []string `json:"notes"`
	} `json:"verdict"`
}

// TestOSDataDebianTestingIsNotACleanScan is the case debian-testing-no-version-id
// (aquasecurity/trivy#160, #2832, #3036): a Debian tree whose debian_version reads
// "bookworm/sid" and whose os-release has no VERSION_ID, with the 88 packages of
// bookworm minbase. No vulnerability data covers Debian testing: the OS is detected as
// such, not called end of life, no version invented, and the report, the summary and
// the gate say its OS packages were not checked; the default policy blocks it, on a
// cold and a cached scan, and gate.on-unsupported-os: warn lets it pass with the note.
// The control, the same tree as Debian 12, reports the case's advisory on tar.
func TestOSDataDebianTestingIsNotACleanScan(t *testing.T) {
	needTestdata(t)
	read := func(p ...string) string {
		b, err := os.ReadFile(filepath.Join(append([]string{testdata}, p...)...))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	status := read("rootfs", "bookworm-minbase", "var_lib_dpkg_status")
	tree := func(debianVersion, osRelease string) []byte {
		return layTar(t, layEntry{"etc/", "dir", ""}, layEntry{"etc/debian_version", "file", debianVersion},
			layEntry{"etc/os-release", "file", osRelease}, layEntry{"var/", "dir", ""}, layEntry{"var/lib/", "dir", ""},
			layEntry{"var/lib/dpkg/", "dir", ""}, layEntry{"var/lib/dpkg/status", "file", status})
	}
	sidTag := "osdata/debian-testing:1"
	sid, sidID := layArchive(t, sidTag, tree("bookworm/sid\n", read("cases", "debian-testing-no-version-id", "os-release.sid")))
	released, releasedID := layArchive(t, "osdata/debian-12:1", tree(read("rootfs", "bookworm-minbase", "debian_version"), read("rootfs", "bookworm-minbase", "os-release")))
	dbCache := caseDB(t, "debian-testing-no-version-id")
	cache := layCache(t, dbCache)

	t.Run("engine: Debian testing is detected and not checked", func(t *testing.T) {
		got, resp := layScan(t, cache, sid, sidID)
		if len(got) != 0 {
			t.Fatalf("findings from the Debian 12 advisories applied to testing: %q", got)
		}
		p := resp.Scan.Image.Platforms
		if len(p) != 1 {
			t.Fatalf("platforms: %+v", p)
		}
		if !strings.HasPrefix(p[0].OS, "debian") || !strings.Contains(p[0].OS, "sid") || strings.Contains(p[0].OS, "12") {
			t.Errorf("OS %q: want Debian testing/sid, no invented version", p[0].OS)
		}
		if p[0].EOSL || resp.Scan.Image.EOSL {
			t.Errorf("Debian testing called end of life: %+v", p[0])
		}
		if p[0].Packages != 88 {
			t.Errorf("packages %d, want the 88 of bookworm minbase", p[0].Packages)
		}
		t.Logf("platform: %+v", p[0])
		if !strings.Contains(p[0].OSUnchecked, "not checked") || !strings.Contains(p[0].OSUnchecked, "Debian testing") {
			t.Fatalf("the scan does not say the OS packages were not checked: %q", p[0].OSUnchecked)
		}
	})
	t.Run("engine: the control, Debian 12, is checked", func(t *testing.T) {
		got, resp := layScan(t, cache, released, releasedID)
		if strings.Join(got, "\n") != "tar CVE-2099-0501" {
			t.Fatalf("findings: %q", got)
		}
		if u := resp.Scan.UncheckedOS(); len(u) != 0 {
			t.Fatalf("a covered release called unchecked: %q", u)
		}
	})

	mustDocker(t, "load", "-i", sid)
	plugin := t.TempDir()
	if err := os.CopyFS(filepath.Join(plugin, "db"), os.DirFS(filepath.Join(dbCache, "db"))); err != nil {
		t.Fatal(err)
	}
	scan := func(t *testing.T, args ...string) (result, osdReport, string) {
		t.Helper()
		dir := t.TempDir()
		out, md, table := filepath.Join(dir, "r.json"), filepath.Join(dir, "summary.md"), filepath.Join(dir, "table.txt")
		full := append([]string{"secscan", "scan", "--exit-code", "--no-progress", "--skip-db-update", "--cache-dir", plugin,
			"-f", "secscan-json", "-o", out, "--report", "markdown=" + md, "--report", "table=" + table}, args...)
		r := docker(t, nil, append(full, sidTag)...)
		var rep osdReport
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("no report: %v\n%s", err, r)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("report: %v", err)
		}
		m, _ := os.ReadFile(md)
		tb, _ := os.ReadFile(table)
		r.stdout += string(tb) // the table report, checked with the output
		return r, rep, string(m)
	}
	check := func(t *testing.T, r result, rep osdReport, md string, pass bool) {
		t.Helper()
		t.Logf("exit %d, summary %q, notes %q", r.code, rep.Verdict.Summary, rep.Verdict.Notes)
		if rep.Verdict.Pass != pass || (pass && r.code != 0) || (!pass && r.code != 2) {
			t.Fatalf("verdict pass=%v (exit %d), want %v: %+v\n%s", rep.Verdict.Pass, r.code, pass, rep.Verdict, r)
		}
		if !strings.Contains(strings.ToLower(rep.Verdict.Summary), "not checked") {
			t.Errorf("summary %q does not say the OS packages were not checked", rep.Verdict.Summary)
		}
		if !strings.Contains(strings.Join(rep.Verdict.Notes, "\n"), "Debian testing") {
			t.Errorf("notes do not say why: %q", rep.Verdict.Notes)
		}
		if len(rep.Image.Platforms) != 1 || rep.Image.Platforms[0].OSUnchecked == "" {
			t.Errorf("the report's platform lacks osUnchecked: %+v", rep.Image.Platforms)
		}
		if !strings.Contains(strings.ToLower(md), "not checked") || !strings.Contains(md, "Debian testing") {
			t.Errorf("the Markdown summary does not say it:\n%s", md)
		}
		if !strings.Contains(r.stdout, "OS packages NOT checked") || !strings.Contains(strings.ToLower(r.stderr), "not checked") {
			t.Errorf("the table or the verdict printed does not say it:\n%s", r)
		}
	}
	t.Run("plugin: the default policy blocks, cold and cached", func(t *testing.T) {
		r, rep, md := scan(t)
		check(t, r, rep, md, false)
		r, rep, md = scan(t) // the scan kept from the first run
		check(t, r, rep, md, false)
	})
	t.Run("plugin: gate.on-unsupported-os warn passes with the note", func(t *testing.T) {
		pol := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(pol, []byte("version: 1\ngate:\n  on-unsupported-os: warn\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, rep, md := scan(t, "--policy", pol)
		check(t, r, rep, md, true)
	})
}
