// Command secscan-demo runs docker secscan's main job on a built-in demo, on this
// machine only: it starts a private dockerd and registry on 127.0.0.1 (installing
// Debian's docker.io and docker-registry when missing), publishes a tiny vulnerability
// DB it generates (two real Alpine advisories) to that registry as Trivy's OCI DB
// artifact, loads two generated Alpine images (one with a vulnerable OpenSSL, one
// fixed), and pushes both through `docker secscan push`: the first is blocked, the
// second is pushed. Everything it started is stopped and removed at the end.
//
// Usage: secscan-demo -plugin bin/docker-secscan
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// demoFixtures is the demo's vulnerability DB in bolt-fixtures form (the layout of
// Trivy's DB: data source, advisories per "<os> <release>" and package, details).
const demoFixtures = `- bucket: data-source
  pairs:
    - key: alpine 3.20
      value:
        ID: alpine
        Name: Alpine Secdb
        URL: https://secdb.alpinelinux.org/
- bucket: alpine 3.20
  pairs:
    - bucket: openssl
      pairs:
        - key: CVE-2024-6119
          value:
            FixedVersion: 3.3.2-r0
    - bucket: busybox
      pairs:
        - key: CVE-2023-42363
          value:
            FixedVersion: 1.36.1-r29
- bucket: vulnerability
  pairs:
    - key: CVE-2024-6119
      value:
        Title: "openssl: Possible denial of service in X.509 name checks"
        Severity: HIGH
        VendorSeverity:
          nvd: 3
    - key: CVE-2023-42363
      value:
        Title: "busybox: use-after-free in awk"
        Severity: MEDIUM
        VendorSeverity:
          nvd: 2
`

func main() {
	plugin := flag.String("plugin", "bin/docker-secscan", "the docker-secscan binary to demonstrate")
	flag.Parse()
	if err := run(*plugin); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func say(f string, a ...any) { fmt.Printf("\n\033[1m==> "+f+"\033[0m\n", a...) }

func run(pluginPath string) error {
	abs, err := filepath.Abs(pluginPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("plugin binary %s: %v (run 'make build')", pluginPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { fmt.Printf("    "+f+"\n", a...) }

	say("Starting a private dockerd and registry on 127.0.0.1")
	if err := testenv.EnsureTools(logf); err != nil {
		return err
	}
	env, err := testenv.Start(ctx, logf)
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the private dockerd and registry")
		env.Close()
	}()

	cfg := filepath.Join(env.Dir, "docker-config")
	if err := os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(abs, filepath.Join(cfg, "cli-plugins", "docker-secscan")); err != nil {
		return err
	}

	say("Publishing a generated vulnerability DB to %s/demo/trivy-db:2", env.Registry)
	fx := filepath.Join(env.Dir, "demo-fixtures.yaml")
	if err := os.WriteFile(fx, []byte(demoFixtures), 0o644); err != nil {
		return err
	}
	dbRepo := env.Registry + "/demo/trivy-db"
	if err := testenv.PublishDB(ctx, filepath.Join(env.Dir, "demo-db"), dbRepo+":2", []string{fx}); err != nil {
		return err
	}

	images := []struct {
		tag, libcrypto string
	}{{"1.0", "3.3.1-r0"}, {"1.1", "3.3.2-r0"}}
	for _, im := range images {
		files := testenv.AlpineFiles("3.20.2", []testenv.ApkPackage{
			{Name: "musl", Version: "1.2.5-r0"},
			{Name: "busybox", Version: "1.36.1-r28"},
			{Name: "libcrypto3", Version: im.libcrypto, Origin: "openssl"},
			{Name: "libssl3", Version: im.libcrypto, Origin: "openssl"},
		})
		layer, err := testenv.Layer(files)
		if err != nil {
			return err
		}
		ref := env.Registry + "/demo/app:" + im.tag
		archive := filepath.Join(env.Dir, "app-"+im.tag+".tar")
		if _, err := testenv.WriteImageArchive(archive, ref, layer); err != nil {
			return err
		}
		if err := dockerRun(env, cfg, "load", "-q", "-i", archive); err != nil {
			return err
		}
	}
	cache := filepath.Join(env.Dir, "cache")
	common := []string{"--cache-dir", cache, "--db-repository", dbRepo}

	ref1 := env.Registry + "/demo/app:1.0"
	say("docker secscan push %s   (OpenSSL 3.3.1-r0: CVE-2024-6119 is HIGH)", ref1)
	err = dockerRun(env, cfg, append(append([]string{"secscan", "push"}, common...), ref1)...)
	if code := exitCode(err); code != 2 {
		return fmt.Errorf("expected the gate to block %s with exit 2, got %v", ref1, err)
	}
	fmt.Println("    exit code 2: blocked by policy, nothing pushed")

	ref2 := env.Registry + "/demo/app:1.1"
	say("docker secscan push %s   (OpenSSL 3.3.2-r0: fixed)", ref2)
	if err := dockerRun(env, cfg, append(append([]string{"secscan", "push"}, common...), ref2)...); err != nil {
		return fmt.Errorf("expected %s to pass and be pushed: %v", ref2, err)
	}
	fmt.Println("    exit code 0: passed and pushed")

	say("What the registry holds now")
	for _, tag := range []string{"1.0", "1.1"} {
		state := "absent (blocked)"
		if hasTag(env.Registry, "demo/app", tag) {
			state = "present"
		}
		fmt.Printf("    %s/demo/app:%s  %s\n", env.Registry, tag, state)
	}
	return nil
}

func dockerRun(env *testenv.Env, cfg string, args ...string) error {
	fmt.Printf("    $ docker %s\n", strings.Join(args, " "))
	cmd := env.Docker(cfg, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	return cmd.Run()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
