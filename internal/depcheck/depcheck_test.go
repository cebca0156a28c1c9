package depcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFindsShortfalls(t *testing.T) {
	dir := t.TempDir()
	vm := filepath.Join(dir, "vendor.mod")
	os.WriteFile(vm, []byte("module github.com/docker/cli\n\ngo 1.26\n\nrequire (\n\tgithub.com/a/a v1.2.0\n\tgithub.com/b/b v0.6.2\n\tgithub.com/c/c v1.0.0 // indirect\n\tgithub.com/d/d v2.0.0+incompatible\n)\n"), 0o644)
	got, err := Check(vm, map[string]string{
		"github.com/a/a": "v1.1.9",
		"github.com/b/b": "v0.7.0",
		"github.com/d/d": "v2.0.0+incompatible",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].String() != "github.com/a/a v1.1.9 < v1.2.0" {
		t.Fatalf("Check = %v, want only github.com/a/a", got)
	}
}

// TestGoModMeetsDockerCLI fails when go.mod selects any module below what
// docker/cli's vendor.mod requires: run 'make pin-deps'.
func TestGoModMeetsDockerCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list -m all")
	}
	sel, cliDir, err := Selected("../..")
	if err != nil {
		t.Fatal(err)
	}
	short, err := Check(VendorMod(cliDir), sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(short) > 0 {
		var lines []string
		for _, s := range short {
			lines = append(lines, s.String())
		}
		t.Fatalf("go.mod selects modules below docker/cli's vendor.mod (run 'make pin-deps'):\n%s", strings.Join(lines, "\n"))
	}
}

// TestEngineLinksTheSQLiteDriver guards the engine's blank import of modernc.org/sqlite:
// Trivy's CLI links it for RPM databases in SQLite form (RHEL 8+, Fedora, Amazon Linux
// 2023) and the Java DB; without it those images silently show no packages.
func TestEngineLinksTheSQLiteDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	cmd := exec.Command("go", "list", "-deps", "../../cmd/secscan-engine")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nmodernc.org/sqlite\n") {
		t.Fatal("cmd/secscan-engine does not link modernc.org/sqlite")
	}
}
