package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// CosignVersion is the Cosign CLI the tests check attached records with.
const CosignVersion = "v3.1.3"

// Cosign returns the Cosign CLI, built from the Go module proxy with go install on
// first use (a few minutes on 2 cores) and kept in
// ${XDG_CACHE_HOME:-~/.cache}/docker-secscan/cosign-<version>/cosign.
func Cosign(logf func(string, ...any)) (string, error) {
	return GoInstall(logf, "github.com/sigstore/cosign/v3/cmd/cosign", CosignVersion, "docker-secscan")
}

// GoInstall returns the command built by `go install pkg@version` (GOEXPERIMENT=jsonv2,
// -trimpath, niced), building it on first use into
// ${XDG_CACHE_HOME:-~/.cache}/<cacheDir>/<name>-<version>/<name>, where name is the
// last element of pkg. Errors say what failed to build.
func GoInstall(logf func(string, ...any), pkg, version, cacheDir string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	name := filepath.Base(pkg)
	dir := filepath.Join(cache, cacheDir, name+"-"+version)
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building %s: go install %s@%s (once; several minutes)", name, pkg, version)
	t0 := time.Now()
	cmd := exec.Command("nice", "-n", "19", "go", "install", "-trimpath", pkg+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOEXPERIMENT=jsonv2", "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s %s: %v", name, version, err)
	}
	logf("%s built in %s", name, time.Since(t0).Round(time.Second))
	return bin, nil
}
