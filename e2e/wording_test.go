//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Honest wording and consistent output (issue 15, items 4, 5, 6 and 8), through the real
// docker CLI.
func init() {
	daemonTests = append(daemonTests, []daemonTest{
		{"ErrorsStartWithDockerSecscan", testErrorsStartWithDockerSecscan},
		{"PushImageIDPrefixIsRefused", testPushImageIDPrefixIsRefused},
		{"TrivyLogsBecomeOurNotes", testTrivyLogsBecomeOurNotes},
		{"SARIFLevelsFollowDispositions", testSARIFLevelsFollowDispositions},
		{"ExitCodeNAndMarkdownFormat", testExitCodeNAndMarkdownFormat},
	}...)
}

func testErrorsStartWithDockerSecscan(t *testing.T) {
	for _, args := range [][]string{{"secscan", "scna"}, {"secscan", "db", "nope"}, {"secscan", "scan", "--nope", "x"}} {
		r := docker(t, nil, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "docker secscan: ") {
			t.Errorf("%q: %s", args, r)
		}
	}
}

// push ID-PREFIX gets the message push sha256:ID gets.
func testPushImageIDPrefixIsRefused(t *testing.T) {
	needTestdata(t)
	id := loadImage(t, "images/alpine-39.tar.gz", env.Registry+"/e2e/idprefix:1")
	hex := strings.TrimPrefix(id, "sha256:")
	for _, in := range []string{hex[:12], hex, id} {
		r := secscan(t, "push", in)
		if r.code != 1 || !strings.Contains(r.stderr, "docker secscan: cannot push \""+in+"\": push a tag (NAME:TAG), not an image ID") {
			t.Errorf("push %s: %s", in, r)
		}
	}
}

// trivyLogLine is a line of Trivy's log format: "2026-11-30T06:02:17Z WARN ...".
var trivyLogLine = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\s+(DEBUG|INFO|WARN|ERROR|FATAL)\s`)

// Alpine 3.11.5 is past its end of life: Trivy logs it in its format; we say it as a
// note, and no Trivy log line reaches stderr.
func testTrivyLogsBecomeOurNotes(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/eol:3.11.5"
	loadImage(t, "images/alpine-3.11.5.tar.gz", ref)
	pol := writeFile(t, t.TempDir(), "p.yaml", "gate:\n  on-unsupported-os: warn\n")
	// A fresh cache folder: its first scan runs Trivy (a cached scan would log nothing).
	cache := t.TempDir()
	for i := range 2 { // the scan, then the same from the cache
		r := docker(t, nil, "secscan", "scan", "--no-progress", "--db-repository", dbRepo, "--cache-dir", cache, "--policy", pol, ref)
		if r.code != 0 {
			t.Fatalf("scan %d: %s", i, r)
		}
		if m := trivyLogLine.FindString(r.stderr); m != "" {
			t.Errorf("scan %d: a Trivy log line reached stderr (%q): %s", i, m, r)
		}
		if !strings.Contains(r.stderr, "note: alpine 3.11.5 is past its end of life") {
			t.Errorf("scan %d: no end-of-life note: %s", i, r)
		}
	}
	// --debug shows Trivy's log as it is.
	r := docker(t, nil, "secscan", "scan", "--debug", "--no-progress", "--cache-dir", t.TempDir(), "--db-repository", dbRepo, "--policy", pol, ref)
	if !trivyLogLine.MatchString(r.stderr) {
		t.Errorf("--debug: no Trivy log: %s", r)
	}
}

// SARIF levels are the dispositions: blocking error, warning warning, below threshold
// note; a best-practice result is its Dockle ID.
func testSARIFLevelsFollowDispositions(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/sarif:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	dir := t.TempDir()
	sarifPath, jsonPath := filepath.Join(dir, "r.sarif"), filepath.Join(dir, "r.json")
	r := secscan(t, "scan", "-f", "secscan-json", "-o", jsonPath, "--report", "sarif="+sarifPath, "--best-practices", "warn", ref)
	if r.code != 0 {
		t.Fatalf("scan: %s", r)
	}
	var sec struct {
		Findings []struct {
			Finding struct {
				VulnerabilityID string
				Kind            string
			}
			Disposition string
		}
	}
	b, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(b, &sec); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range sec.Findings {
		want[f.Finding.VulnerabilityID] = map[string]string{"blocking": "error", "warning": "warning", "below-threshold": "note", "unfixed": "note"}[f.Disposition]
	}
	var rep struct {
		Runs []struct {
			Results []struct {
				RuleID     string
				Level      string
				Properties map[string]any
			}
		}
	}
	b, _ = os.ReadFile(sarifPath)
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Runs) != 1 || len(rep.Runs[0].Results) == 0 {
		t.Fatalf("SARIF: %v %s", err, b)
	}
	levels := map[string]bool{}
	for _, res := range rep.Runs[0].Results {
		if w, ok := want[res.RuleID]; !ok || res.Level != w {
			t.Errorf("result %s level %q, want %q (known: %v)", res.RuleID, res.Level, w, ok)
		}
		if strings.HasPrefix(res.RuleID, "DS") || strings.HasPrefix(res.RuleID, "AVD-") {
			t.Errorf("result %s: a Trivy check ID, not the table's", res.RuleID)
		}
		levels[res.Level] = true
	}
	if !levels["error"] || !levels["note"] {
		t.Errorf("levels %v: alpine 3.9 has blocking and below-threshold findings", levels)
	}
	validateSARIF(t, sarifPath)
}

// --exit-code N (Trivy's form) and -f markdown.
func testExitCodeNAndMarkdownFormat(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/exitcode:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--exit-code", "1"}, 1},
		{[]string{"--exit-code=3"}, 3},
		{[]string{"--exit-code"}, 2},
		{[]string{"--exit-code", "0"}, 0},
		{nil, 0},
	} {
		r := secscan(t, append(append([]string{"scan", "-f", "markdown"}, tc.args...), ref)...)
		if r.code != tc.code {
			t.Errorf("%q: exit %d, want %d: %s", tc.args, r.code, tc.code, r)
		}
		if !strings.HasPrefix(r.stdout, "### ❌ docker secscan: `"+ref+"`") || !strings.Contains(r.stdout, "](https://") {
			t.Errorf("%q: -f markdown: %s", tc.args, r)
		}
	}
}
