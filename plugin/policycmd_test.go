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
