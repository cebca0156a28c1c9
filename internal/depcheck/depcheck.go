// Package depcheck checks that go.mod selects, for every module that docker/cli's
// vendor.mod requires, at least the version docker/cli was built and tested with.
//
// docker/cli has no go.mod (it is "+incompatible"), so its real requirements take no
// part in Go's minimal version selection; next to Trivy several of them resolve lower
// and the build breaks (design notes, fact 8). The pindeps command fixes go.mod; the
// test of this package fails when go.mod drifts.
package depcheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// DockerCLI is the module whose vendor.mod is checked.
const DockerCLI = "github.com/docker/cli"

// Shortfall is a module selected below what docker/cli requires.
type Shortfall struct {
	Path     string // module path
	Selected string // version go.mod selects
	Required string // version docker/cli's vendor.mod requires
}

func (s Shortfall) String() string {
	return fmt.Sprintf("%s %s < %s", s.Path, s.Selected, s.Required)
}

// Selected returns module path -> version for the modules that provide packages to the
// build of dir's packages and tests (`go list -deps -test ./...`), and the folder of
// docker/cli in the module cache. Modules in the graph that provide no package cannot
// break the build and are left out.
func Selected(dir string) (map[string]string, string, error) {
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{with .Module}}{{.Path}} {{.Version}} {{with .Replace}}{{.Version}}{{end}} {{.Dir}}{{end}}", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("go list -deps: %v: %s", err, stderr.String())
	}
	sel := map[string]string{}
	cliDir := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue // the main module has no version
		}
		path, v, mdir := f[0], f[1], f[len(f)-1]
		if len(f) == 4 {
			v = f[2] // replaced
		}
		sel[path] = v
		if path == DockerCLI {
			cliDir = mdir
		}
	}
	if cliDir == "" {
		return nil, "", fmt.Errorf("%s is not in the module graph (or not downloaded: run 'go mod download %s')", DockerCLI, DockerCLI)
	}
	return sel, cliDir, nil
}

// Check compares the selected versions with docker/cli's vendor.mod (at vendorMod) and
// returns the modules selected lower, sorted by path. Modules absent from the graph
// are not needed by this build and are skipped.
func Check(vendorMod string, selected map[string]string) ([]Shortfall, error) {
	data, err := os.ReadFile(vendorMod)
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax(vendorMod, data, nil)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %v", vendorMod, err)
	}
	var out []Shortfall
	for _, r := range f.Require {
		have, ok := selected[r.Mod.Path]
		if !ok {
			continue
		}
		if semver.Compare(canonical(have), canonical(r.Mod.Version)) < 0 {
			out = append(out, Shortfall{Path: r.Mod.Path, Selected: have, Required: r.Mod.Version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func canonical(v string) string { return strings.TrimSuffix(v, "+incompatible") }

// VendorMod returns the path of vendor.mod in the docker/cli module folder.
func VendorMod(cliDir string) string { return filepath.Join(cliDir, "vendor.mod") }
