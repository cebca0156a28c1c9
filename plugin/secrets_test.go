package plugin

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// A secret in an image file is reported by our own formats with its rule, file and line
// and Trivy's redacted match, never the secret (Trivy's formats: see
// internal/scanner/secrets_test.go).
func TestSecretFindingsInOurFormats(t *testing.T) {
	const raw = "AKIAQWERTYUIOPASDFGH"
	fs := []report.Finding{{Kind: report.KindSecret, VulnerabilityID: "aws-access-key-id", Severity: report.SeverityCritical,
		Title: "AWS Access Key ID", PkgPath: "/app/config.env", StartLine: 3, Match: "AWS_ACCESS_KEY_ID=" + strings.Repeat("*", len(raw)),
		Target: "/app/config.env", Class: "secret", Type: "AWS"}}
	scan := report.Scan{Image: report.Image{Reference: "app:1", ID: "sha256:" + strings.Repeat("ab", 32)}, Findings: fs, Scanner: "trivy v0.74.0", BestPracticeChecks: 1}
	p := policy.Defaults()
	out := &scanOutcome{result: &engine.Result{Scan: scan}, policy: p, source: "defaults", verdict: p.Evaluate(scan, time.Now())}
	for _, format := range []string{"table", "markdown", "secscan-json", "container-scan"} {
		b, err := renderReport(context.Background(), out, format, nil, false)
		if err != nil {
			t.Fatal(format, err)
		}
		s := string(b)
		if !strings.Contains(s, "aws-access-key-id") || !strings.Contains(s, "/app/config.env") {
			t.Errorf("%s lacks the rule or the file:\n%s", format, s)
		}
		if format != "secscan-json" && !strings.Contains(s, "/app/config.env:3") {
			t.Errorf("%s lacks the line:\n%s", format, s)
		}
		if strings.Contains(s, raw) {
			t.Errorf("%s carries the secret", format)
		}
	}
	if out.verdict.Summary != "passed: no blocking finding (1 secret warning; threshold: HIGH)" {
		t.Errorf("summary %q", out.verdict.Summary)
	}
}

func TestSecretConfigFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	p := policy.Defaults()
	if got := secretConfig(p); got != "" {
		t.Fatalf("no trivy-secret.yaml: %q", got)
	}
	writeFile(t, dir+"/trivy-secret.yaml", "disable-rules: [github-pat]\n")
	if got := secretConfig(p); got != dir+"/trivy-secret.yaml" {
		t.Fatalf("trivy-secret.yaml in the working directory: %q", got)
	}
	p.SecretConfig = "/elsewhere/rules.yaml"
	if got := secretConfig(p); got != p.SecretConfig {
		t.Fatalf("gate.secret-config: %q", got)
	}
	p.Secrets = policy.ActionOff
	if got := secretConfig(p); got != "" {
		t.Fatalf("gate.secrets off: %q", got)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --secrets (ours, overrides gate.secrets) is not docker build's --secret (BuildKit's
// build secrets), which passes through to the build.
func TestSecretsFlag(t *testing.T) {
	opts := &gateOptions{}
	var push bool
	fs := buildFlags(opts, &push)
	ours, theirs := splitBuildArgs(fs, []string{"--secrets", "block", "--secret", "id=npm,src=.npmrc", "-t", "a:1", "."})
	if !slices.Equal(ours, []string{"--secrets", "block"}) || !slices.Equal(theirs, []string{"--secret", "id=npm,src=.npmrc", "-t", "a:1", "."}) {
		t.Fatalf("ours %q, theirs %q", ours, theirs)
	}
}
