package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Issue 15, item 8: every error starts with "docker secscan:", cobra's "unknown
// command" too.
func TestErrorsArePrefixed(t *testing.T) {
	for _, args := range [][]string{{"scna"}, {"db", "nope"}, {"scan", "--nope", "x"}, {"scan"}, {"hooks", "nope"}} {
		cmd := NewRootCommand(nil)
		cmd.SetArgs(args)
		cmd.SetOut(new(bytes.Buffer))
		cmd.SetErr(new(bytes.Buffer))
		err := cmd.Execute()
		var se cli.StatusError
		if !errors.As(err, &se) || !strings.HasPrefix(se.Status, "docker secscan: ") || se.StatusCode != ExitFailed {
			t.Errorf("%q: %#v", args, err)
		}
	}
	cmd := NewRootCommand(nil)
	cmd.SetArgs([]string{"scna"})
	err := cmd.Execute()
	if !strings.Contains(err.Error(), `unknown command "scna" for "docker secscan": did you mean 'docker secscan scan'?`) {
		t.Errorf("unknown command: %v", err)
	}
}

// --exit-code alone exits 2 as before; --exit-code N (Trivy's form, with a space or
// "=") exits N; 0 never fails.
func TestExitCodeN(t *testing.T) {
	for _, tc := range []struct {
		argv  []string
		code  int
		image string
	}{
		{[]string{"--exit-code", "img:1"}, 2, "img:1"},
		{[]string{"img:1", "--exit-code"}, 2, "img:1"},
		{[]string{"--exit-code", "1", "img:1"}, 1, "img:1"},
		{[]string{"--exit-code=1", "img:1"}, 1, "img:1"},
		{[]string{"--exit-code", "0", "img:1"}, 0, "img:1"},
		{[]string{"img:1"}, 0, "img:1"},
	} {
		cmd := newScanCommand(nil)
		if err := cmd.ParseFlags(tc.argv); err != nil {
			t.Fatalf("%q: %v", tc.argv, err)
		}
		f := cmd.Flags().Lookup("exit-code").Value.(*exitCodeFlag)
		args := cmd.Flags().Args()
		if err := cmd.Args(cmd, args); err != nil {
			t.Fatalf("%q: %v", tc.argv, err)
		}
		args = f.takeValue(cmd, args) // as RunE does, after the argument check
		if f.code != tc.code || len(args) != 1 || args[0] != tc.image {
			t.Errorf("%q: code %d, args %q; want %d, %q", tc.argv, f.code, args, tc.code, tc.image)
		}
	}
	cmd := newScanCommand(nil)
	if err := cmd.ParseFlags([]string{"--exit-code=x", "img"}); err == nil {
		t.Error("--exit-code=x accepted")
	}
}

// -f markdown and -f container-scan work wherever --report takes them.
func TestFormatsOfReportAreFormats(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, f := range allReportFormats {
		o := &gateOptions{format: f, threshold: "HIGH", mode: "block", db: dbOptions{cacheDir: t.TempDir()}}
		o.publish.timeout = 10 * time.Second
		if _, _, err := o.resolvePolicyFlags(pflag.NewFlagSet("x", pflag.ContinueOnError), time.Now()); err != nil {
			t.Errorf("-f %s: %v", f, err)
		}
	}
}

// 'db update' does not suggest --skip-db-update, which it refuses.
func TestDBUpdateHint(t *testing.T) {
	err := errors.New("cannot get a usable vulnerability DB (127.0.0.1:1/db:2: connection refused): check --db-repository and the network, or use a cached DB with --skip-db-update")
	got := dbUpdateError(err)
	want := "cannot get a usable vulnerability DB (127.0.0.1:1/db:2: connection refused): check --db-repository and the network (the cached DB, if any, is unchanged)"
	if got.Error() != want || !errors.Is(got, err) {
		t.Errorf("got %q, want %q", got, want)
	}
	if e := errors.New("no space left"); dbUpdateError(e) != e {
		t.Error("an error without the hint changed")
	}
}

func wordingOutcome() *scanOutcome {
	fs := []report.Finding{
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-14697", PkgName: "musl", InstalledVersion: "1.1.20-r4", FixedVersion: "1.1.20-r5", Severity: report.SeverityHigh, PrimaryURL: "https://avd.aquasec.com/nvd/cve-2019-14697", Title: "musl: x87 stack overflow"},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-1549", PkgName: "libssl1.1", InstalledVersion: "1.1.1b-r1", FixedVersion: "1.1.1d-r0", Severity: report.SeverityHigh, PrimaryURL: "https://avd.aquasec.com/nvd/cve-2019-1549"},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-1547", PkgName: "libssl1.1", InstalledVersion: "1.1.1b-r1", FixedVersion: "1.1.1d-r0", Severity: report.SeverityMedium},
		{Kind: report.KindBestPractice, VulnerabilityID: "CIS-DI-0001", Aliases: []string{"DS-0002", "DS002", "AVD-DS-0002"}, Severity: report.SeverityHigh, Title: "Image user should not be 'root': Last USER command in Dockerfile should not be 'root'"},
	}
	scan := report.Scan{Image: report.Image{Reference: "registry.example.com/team/app:1", ID: "sha256:" + strings.Repeat("ab", 32), OS: "alpine 3.9.4"}, Findings: fs, Scanner: "trivy v0.74.0", BestPracticeChecks: 20}
	p := policy.Defaults()
	p.Exceptions = []policy.Exception{{ID: "CVE-2019-1549", Reason: "not reachable", Source: ".secscan.yaml:4", Expires: time.Now().Add(60 * 24 * time.Hour)}}
	return &scanOutcome{result: &engine.Result{Scan: scan}, policy: p, source: ".secscan.yaml", verdict: p.Evaluate(scan, time.Now())}
}

// Issue 15, item 4: the table's and the Markdown summary's totals say how many were
// excepted; the summary names the pushed reference and digest, links each CVE to its
// advisory and ends with a blank line (GITHUB_STEP_SUMMARY collects several runs).
func TestSummaryAndTotals(t *testing.T) {
	out := wordingOutcome()
	if !strings.HasPrefix(out.verdict.Summary, "blocked: 1 blocking finding (1 HIGH; threshold: HIGH); also 1 HIGH excepted, 1 best-practice warning, 1 below the threshold") {
		t.Fatalf("summary %q", out.verdict.Summary)
	}
	var tb bytes.Buffer
	if err := writeGateTable(&tb, out, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "Total: 4, 1 excepted (UNKNOWN: 0, LOW: 0, MEDIUM: 1, HIGH: 3 (1 excepted), CRITICAL: 0)") {
		t.Errorf("table totals:\n%s", tb.String())
	}

	var md bytes.Buffer
	if err := writeMarkdown(&md, out, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 0 | 3 (1 excepted) | 1 | 0 | 0 | 1 |",
		"[CVE-2019-14697](https://avd.aquasec.com/nvd/cve-2019-14697)",
		"**blocked: 1 blocking finding (1 HIGH; threshold: HIGH); also 1 HIGH excepted",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if !strings.HasSuffix(md.String(), ".\n\n") {
		t.Errorf("markdown does not end with a blank line: %q", md.String())
	}

	// The job summary is appended once the push is decided, and names what was pushed.
	dir := t.TempDir()
	sum := filepath.Join(dir, "summary.md")
	os.WriteFile(sum, []byte("## an earlier step\nits last line\n"), 0o644)
	t.Setenv("GITHUB_STEP_SUMMARY", sum)
	pass := wordingOutcome()
	pass.policy.Block = report.SeverityCritical
	pass.verdict = pass.policy.Evaluate(pass.result.Scan, time.Now())
	pass.pushAsked = true
	digest := "sha256:" + strings.Repeat("cd", 32)
	appendStepSummary(context.Background(), nil, pass, &gateOptions{}, digest, true)
	blocked := wordingOutcome()
	blocked.pushAsked = true
	appendStepSummary(context.Background(), nil, blocked, &gateOptions{}, "", false)
	b, _ := os.ReadFile(sum)
	s := string(b)
	for _, want := range []string{
		"its last line\n\n### ✅ docker secscan",
		"Pushed `registry.example.com/team/app:1@" + digest + "`",
		".\n\n### ❌ docker secscan",
		"Not pushed: `registry.example.com/team/app:1` was blocked by policy.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("step summary lacks %q:\n%s", want, s)
		}
	}
}

// A SARIF report in the shape Trivy v0.74.0's writer gives it (one vulnerability, one
// failed Dockerfile check, one failed check that is no finding of ours).
const trivySARIF = `{
  "version": "2.1.0",
  "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
  "runs": [{
    "tool": {"driver": {"fullName": "Trivy Vulnerability Scanner", "informationUri": "https://github.com/aquasecurity/trivy", "name": "Trivy", "version": "v0.74.0",
      "rules": [
        {"id": "CVE-2019-14697", "name": "OsPackageVulnerability", "shortDescription": {"text": "musl"}, "defaultConfiguration": {"level": "error"}, "properties": {"precision": "very-high", "security-severity": "9.8", "tags": ["vulnerability", "security", "HIGH"]}},
        {"id": "CVE-2019-1547", "name": "OsPackageVulnerability", "shortDescription": {"text": "openssl"}, "defaultConfiguration": {"level": "warning"}, "properties": {"tags": ["vulnerability", "security", "MEDIUM"]}},
        {"id": "DS-0002", "name": "Misconfiguration", "shortDescription": {"text": "Image user should not be 'root'"}, "defaultConfiguration": {"level": "error"}, "properties": {"tags": ["misconfiguration", "security", "HIGH"]}},
        {"id": "DS-0031", "name": "Misconfiguration", "shortDescription": {"text": "secrets"}, "defaultConfiguration": {"level": "error"}, "properties": {"tags": ["misconfiguration", "security", "CRITICAL"]}}
      ]}},
    "results": [
      {"ruleId": "CVE-2019-14697", "ruleIndex": 0, "level": "error", "message": {"text": "Package: musl\nInstalled Version: 1.1.20-r4\nVulnerability CVE-2019-14697\nSeverity: HIGH\nFixed Version: 1.1.20-r5\nLink: [CVE-2019-14697](https://avd.aquasec.com/nvd/cve-2019-14697)"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "team/app", "uriBaseId": "ROOTPATH"}, "region": {"startLine": 1}}, "message": {"text": "team/app: musl@1.1.20-r4"}}]},
      {"ruleId": "CVE-2019-1547", "ruleIndex": 1, "level": "warning", "message": {"text": "Package: libssl1.1\nInstalled Version: 1.1.1b-r1\nVulnerability CVE-2019-1547\nSeverity: MEDIUM\nFixed Version: 1.1.1d-r0\nLink: [CVE-2019-1547](https://avd.aquasec.com/nvd/cve-2019-1547)"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "team/app"}, "region": {"startLine": 1}}}]},
      {"ruleId": "DS-0002", "ruleIndex": 2, "level": "error", "message": {"text": "Artifact: team/app\nType: dockerfile\nVulnerability DS-0002\nSeverity: HIGH\nMessage: Last USER command in Dockerfile should not be 'root'\nLink: [DS-0002](https://avd.aquasec.com/misconfig/ds-0002)"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "team/app"}, "region": {"startLine": 1}}}]},
      {"ruleId": "DS-0031", "ruleIndex": 3, "level": "error", "message": {"text": "Artifact: team/app\nType: dockerfile\nVulnerability DS-0031\nSeverity: CRITICAL\nMessage: Possible exposure of secret env \"API_KEY\" in ENV\nLink: [DS-0031](https://avd.aquasec.com/misconfig/ds-0031)"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "team/app"}, "region": {"startLine": 1}}}]}
    ]}]
}`

// Issue 15, item 5: in SARIF a best-practice finding is its Dockle ID, as in the table
// (Trivy's IDs as aliases), and the level follows the disposition.
func TestSARIFDispositions(t *testing.T) {
	out := wordingOutcome()
	b, err := sarifDispositions([]byte(trivySARIF), out.verdict)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID                   string
						DefaultConfiguration struct{ Level string }
						Properties           map[string]any
					}
				}
			}
			Results []struct {
				RuleID     string
				RuleIndex  int
				Level      string
				Properties map[string]any
			}
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	type got struct{ id, level, disposition string }
	var results []got
	for _, r := range run.Results {
		results = append(results, got{r.RuleID, r.Level, r.Properties["disposition"].(string)})
		if rule := run.Tool.Driver.Rules[r.RuleIndex]; rule.ID != r.RuleID {
			t.Errorf("result %s points at rule %s", r.RuleID, rule.ID)
		}
	}
	want := []got{
		{"CVE-2019-14697", "error", "blocking"},
		{"CVE-2019-1547", "note", "below-threshold"},
		{"CIS-DI-0001", "warning", "warning"},
	}
	if len(results) != len(want) {
		t.Fatalf("results %v, want %v", results, want)
	}
	for i := range want {
		if results[i] != want[i] {
			t.Errorf("result %d = %v, want %v", i, results[i], want[i])
		}
	}
	if len(run.Tool.Driver.Rules) != 3 {
		t.Fatalf("rules %+v", run.Tool.Driver.Rules)
	}
	bp := run.Tool.Driver.Rules[2]
	aliases, _ := json.Marshal(bp.Properties["aliases"])
	if bp.ID != "CIS-DI-0001" || bp.DefaultConfiguration.Level != "warning" || string(aliases) != `["DS-0002","DS002","AVD-DS-0002"]` {
		t.Errorf("best-practice rule %+v (aliases %s)", bp, aliases)
	}
	if run.Tool.Driver.Rules[1].DefaultConfiguration.Level != "note" || run.Tool.Driver.Rules[0].Properties["security-severity"] != "9.8" {
		t.Errorf("rules %+v", run.Tool.Driver.Rules)
	}
}
