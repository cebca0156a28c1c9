package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestPolicyCheckSaysWhichImportsWereRead is cases/allowlist-yml-spelling through the
// plugin: from each workspace the allowlist is found (allowedlist.yml or .yaml), read,
// and named by `policy check`.
func TestPolicyCheckSaysWhichImportsWereRead(t *testing.T) {
	dir := os.Getenv("SECSCAN_TESTDATA")
	if dir == "" {
		dir = "../../shared/testdata"
	}
	dir, _ = filepath.Abs(filepath.Join(dir, "cases", "allowlist-yml-spelling"))
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("test data not found at %s (set SECSCAN_TESTDATA)", dir)
	}
	for _, k := range []string{"TRIVY_IGNOREFILE", "TRIVY_CONFIG", "GITHUB_WORKSPACE", "GITHUB_ACTIONS", "TF_BUILD", "GITLAB_CI", "JENKINS_URL"} {
		t.Setenv(k, "")
	}
	for _, ws := range []string{"ws-yml", "ws-yaml"} {
		t.Chdir(filepath.Join(dir, ws))
		o := &gateOptions{}
		fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
		o.addFlags(fs)
		o.db.cacheDir = t.TempDir()
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		p, src, err := o.resolvePolicyFlags(fs, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", ws, err)
		}
		name := "allowedlist." + strings.TrimPrefix(ws, "ws-")
		if len(p.Exceptions) != 5 || !strings.HasSuffix(src, name) {
			t.Fatalf("%s: %d exceptions from %s", ws, len(p.Exceptions), src)
		}
		var out bytes.Buffer
		printImports(&out, p)
		if want := "imported " + filepath.Join(".github", "containerscan", name) + " (container-scan allowedlist: 5 entries)"; !strings.Contains(out.String(), want) {
			t.Errorf("%s: policy check prints %q, want %q", ws, out.String(), want)
		}
	}
	t.Chdir(t.TempDir())
	o := &gateOptions{}
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	o.addFlags(fs)
	o.db.cacheDir = t.TempDir()
	fs.Parse(nil)
	p, _, err := o.resolvePolicyFlags(fs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printImports(&out, p)
	if !strings.Contains(out.String(), "no import files found") || !strings.Contains(out.String(), "allowedlist.yml") {
		t.Errorf("nothing found: %q", out.String())
	}
}

// TestPolicyCheckPrintsImportNotes: what an import holds that cannot apply (a VEX
// product named only by a CPE) is printed by policy check, and the policy is valid.
func TestPolicyCheckPrintsImportNotes(t *testing.T) {
	dir := t.TempDir()
	vex := filepath.Join(dir, "v.json")
	os.WriteFile(vex, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"identifiers":{"cpe23":"cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"}}],"status":"fixed"}]}`), 0o644)
	t.Chdir(dir)
	o := &gateOptions{}
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	o.addFlags(fs)
	o.db.cacheDir = t.TempDir()
	if err := fs.Parse([]string{"--vex", vex}); err != nil {
		t.Fatal(err)
	}
	p, _, err := o.resolvePolicyFlags(fs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printImports(&out, p)
	if !strings.Contains(out.String(), "imported "+vex+" (OpenVEX: 0 entries; --vex)") || !strings.Contains(out.String(), "note: ") || !strings.Contains(out.String(), "CPE") {
		t.Errorf("policy check prints %q", out.String())
	}
}
