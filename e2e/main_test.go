//go:build e2e

// Package e2e runs docker secscan through the real docker CLI against a private dockerd
// and registry on 127.0.0.1 (Debian's docker.io and docker-registry, installed when
// missing), with a vulnerability DB built from Trivy's own fixtures and downloaded by
// the plugin through its normal OCI path. Nothing reaches the internet.
//
// Test data is read in place from ../shared/testdata (override with SECSCAN_TESTDATA).
// SECSCAN_BINARY names a prebuilt plugin binary; without it the tests build one.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

var (
	env       *testenv.Env
	configDir string // DOCKER_CONFIG with cli-plugins/docker-secscan
	cacheDir  string // shared --cache-dir holding the fixture DB
	dbRepo    string // the fixture DB artifact, 127.0.0.1:PORT/trivy-db
	testdata  string // ../shared/testdata, or SECSCAN_TESTDATA
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "e2e: "+f+"\n", a...) }
	testdata = os.Getenv("SECSCAN_TESTDATA")
	if testdata == "" {
		testdata, _ = filepath.Abs("../../shared/testdata")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if err := testenv.EnsureTools(logf); err != nil {
		logf("cannot provision: %v", err)
		return 1
	}
	var err error
	env, err = testenv.Start(ctx, logf)
	if err != nil {
		logf("cannot start dockerd and registry: %v", err)
		return 1
	}
	defer env.Close()

	configDir = filepath.Join(env.Dir, "docker-config")
	cacheDir = filepath.Join(env.Dir, "cache")
	if err := installPlugin(configDir); err != nil {
		logf("%v", err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(testdata, "trivy-db-fixtures")); err == nil {
		fixtures, _ := filepath.Glob(filepath.Join(testdata, "trivy-db-fixtures", "*.yaml"))
		dbRepo = env.Registry + "/trivy-db"
		if err := testenv.PublishDB(ctx, filepath.Join(env.Dir, "dbbuild"), dbRepo+":2", fixtures); err != nil {
			logf("cannot publish the fixture DB: %v", err)
			return 1
		}
	} else {
		logf("%s not found: tests that need Trivy's fixtures are skipped (set SECSCAN_TESTDATA)", testdata)
	}
	return m.Run()
}

// installPlugin links the plugin binary into dir/cli-plugins (the engine is found
// next to the plugin's real file), building both when SECSCAN_BINARY is not set.
func installPlugin(dir string) error {
	plugins := filepath.Join(dir, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}\n"), 0o600); err != nil {
		return err
	}
	dst := filepath.Join(plugins, "docker-secscan")
	if bin := os.Getenv("SECSCAN_BINARY"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return err
		}
		return os.Symlink(abs, dst)
	}
	bin := filepath.Join(dir, "bin")
	for _, c := range []string{"docker-secscan", "secscan-engine"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, c), "../cmd/"+c)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %v", c, err)
		}
	}
	return os.Symlink(filepath.Join(bin, "docker-secscan"), dst)
}

func needTestdata(t *testing.T) {
	t.Helper()
	if dbRepo == "" {
		t.Skipf("test data not found at %s (set SECSCAN_TESTDATA)", testdata)
	}
}
