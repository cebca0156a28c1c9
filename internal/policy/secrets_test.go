package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

func secretFinding() report.Finding {
	return report.Finding{Kind: report.KindSecret, VulnerabilityID: "aws-access-key-id", Severity: report.SeverityCritical,
		Title: "AWS Access Key ID", PkgPath: "/app/config.env", StartLine: 3, Match: "AWS_ACCESS_KEY_ID=********************",
		Target: "/app/config.env", Class: "secret", Type: "AWS"}
}

func TestGateSecretsKey(t *testing.T) {
	if p := Defaults(); p.Secrets != ActionWarn {
		t.Fatalf("default gate.secrets %q, want warn", p.Secrets)
	}
	for _, a := range []Action{ActionBlock, ActionWarn, ActionOff} {
		p, err := Parse("p.yaml", []byte("version: 1\ngate:\n  secrets: "+string(a)+"\n"), now)
		if err != nil || p.Secrets != a {
			t.Fatalf("gate.secrets %s: %v, %q", a, err, p.Secrets)
		}
	}
	_, err := Parse("p.yaml", []byte("version: 1\ngate:\n  secrets: maybe\n"), now)
	if err == nil || !strings.Contains(err.Error(), "gate.secrets") {
		t.Fatalf("bad gate.secrets: %v", err)
	}

	// gate.secret-config: relative to the policy file, which must exist.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rules", "trivy-secret.yaml")
	_ = os.MkdirAll(filepath.Dir(cfg), 0o755)
	_ = os.WriteFile(cfg, []byte("disable-rules: [github-pat]\n"), 0o600)
	p, err := Parse(filepath.Join(dir, ".secscan.yaml"), []byte("version: 1\ngate:\n  secret-config: rules/trivy-secret.yaml\n"), now)
	if err != nil || p.SecretConfig != cfg {
		t.Fatalf("gate.secret-config: %v, %q want %q", err, p.SecretConfig, cfg)
	}
	_, err = Parse(filepath.Join(dir, ".secscan.yaml"), []byte("version: 1\ngate:\n  secret-config: nope.yaml\n"), now)
	if err == nil || !strings.Contains(err.Error(), "gate.secret-config") {
		t.Fatalf("missing gate.secret-config file: %v", err)
	}
}

func TestSecretDispositions(t *testing.T) {
	fs := []report.Finding{secretFinding()}
	p := Defaults()
	v := p.Evaluate(scanOf(fs), now)
	if !v.Pass || v.Decisions[0].Disposition != Warning || v.Summary != "passed: no blocking finding (1 secret warning; threshold: HIGH)" {
		t.Fatalf("warn: %v %q %+v", v.Pass, v.Summary, v.Decisions)
	}
	p.Secrets = ActionBlock
	low := secretFinding()
	low.Severity = report.SeverityLow // a secret blocks whatever its rule's severity
	v = p.Evaluate(scanOf(append(fs, low)), now)
	if v.Pass || v.Blocking != 2 || v.Summary != "blocked: 2 blocking findings (2 secrets; threshold: HIGH, secrets block)" {
		t.Fatalf("block: %v %d %q", v.Pass, v.Blocking, v.Summary)
	}
	p.Secrets = ActionOff
	v = p.Evaluate(scanOf(fs), now)
	if !v.Pass || v.Decisions[0].Disposition != Off {
		t.Fatalf("off: %v %+v", v.Pass, v.Decisions)
	}
}

// .trivyignore's secret rule IDs suppress secret findings (as `trivy image` does).
func TestTrivyIgnoreSuppressesSecretRules(t *testing.T) {
	ex, err := ParseTrivyIgnore(".trivyignore", []byte("# test keys\naws-access-key-id\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := Defaults()
	p.Secrets = ActionBlock
	p.Exceptions = ex
	other := secretFinding()
	other.VulnerabilityID = "github-pat"
	v := p.Evaluate(scanOf([]report.Finding{secretFinding(), other}), now)
	if v.Decisions[0].Disposition != Excepted || v.Decisions[1].Disposition != Blocking {
		t.Fatalf("decisions %+v", v.Decisions)
	}
	if !strings.Contains(v.Summary, "1 secret finding excepted") {
		t.Fatalf("summary %q", v.Summary)
	}
	// The YAML form, by rule ID and path.
	ex, err = ParseTrivyIgnoreYAML(".trivyignore.yaml", []byte("secrets:\n  - id: aws-access-key-id\n    paths: [\"app/*.env\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.Exceptions = ex
	elsewhere := secretFinding()
	elsewhere.PkgPath, elsewhere.Target = "/root/.aws/credentials", "/root/.aws/credentials"
	v = p.Evaluate(scanOf([]report.Finding{secretFinding(), elsewhere}), now)
	if v.Decisions[0].Disposition != Excepted || v.Decisions[1].Disposition != Blocking {
		t.Fatalf("yaml decisions %+v", v.Decisions)
	}
}
