//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"time"

	"encoding/json"
	"errors"
	"fmt"
	"github.com/docker-secscan/docker-secscan/internal/testenv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// result is one finished command.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// docker runs the engine's real docker CLI against its private daemon with the plugin
// installed.
func docker(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	return dockerWith(t, configDir, extraEnv, args...)
}

// dockerWith is docker with another DOCKER_CONFIG folder.
func dockerWith(t *testing.T, cfg string, extraEnv []string, args ...string) result {
	t.Helper()
	return dockerIn(t, "", cfg, extraEnv, args...)
}

// dockerIn is dockerWith in working directory dir ("" for the test's).
func dockerIn(t *testing.T, dir, cfg string, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := env.Docker(cfg, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("docker %v: %v", args, err)
	}
	return r
}

// mustDocker runs docker and fails the test unless it exits 0.
func mustDocker(t *testing.T, args ...string) result {
	t.Helper()
	r := docker(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// secscanArgs prefixes push and scan arguments with the shared cache and fixture DB.
func secscanArgs(args ...string) []string {
	full := append([]string{"secscan"}, args...)
	if len(args) > 0 && (args[0] == "push" || args[0] == "scan" || args[0] == "build") {
		full = append(full[:2:2], append([]string{"--cache-dir", cacheDir, "--db-repository", dbRepo, "--no-progress"}, args[1:]...)...)
	}
	return full
}

// secscan runs `docker secscan ARGS` with the shared cache and the fixture DB.
func secscan(t *testing.T, args ...string) result {
	t.Helper()
	return docker(t, nil, secscanArgs(args...)...)
}

// loadImage loads a docker-save archive from the test data and tags it as ref.
func loadImage(t *testing.T, archive, ref string) string {
	t.Helper()
	r := mustDocker(t, "load", "-i", filepath.Join(testdata, archive))
	loaded := ""
	for _, line := range strings.Split(r.stdout, "\n") {
		for _, p := range []string{"Loaded image: ", "Loaded image ID: "} {
			if strings.HasPrefix(line, p) {
				loaded = strings.TrimSpace(strings.TrimPrefix(line, p))
			}
		}
	}
	if loaded == "" {
		t.Fatalf("docker load printed no image: %s", r)
	}
	mustDocker(t, "tag", loaded, ref)
	return imageID(t, ref)
}

func imageID(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(mustDocker(t, "image", "inspect", "--format", "{{.Id}}", ref).stdout)
}

// registryHasTag asks the registry's API whether repo:tag exists.
func registryHasTag(t *testing.T, registry, repo, tag string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// manifestConfigDigest fetches repo:tag's manifest and returns its config digest.
func manifestConfigDigest(t *testing.T, registry, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	defer resp.Body.Close()
	var m struct {
		Config struct{ Digest string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("manifest of %s:%s: %v", repo, tag, err)
	}
	return m.Config.Digest
}

// vuln is the identity of a finding for comparison with Trivy's goldens.
type vuln struct {
	ID, Pkg, Installed, Fixed, Severity string
}

// trivyFindings reads the findings of a Trivy JSON report (SchemaVersion 2).
func trivyFindings(t *testing.T, path string) []vuln {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read report: %v", err)
	}
	var rep struct {
		SchemaVersion int
		Results       []struct {
			Vulnerabilities []struct {
				VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Severity string
			}
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s is not a Trivy JSON report: %v", path, err)
	}
	if rep.SchemaVersion != 2 {
		t.Fatalf("%s: SchemaVersion %d, want 2", path, rep.SchemaVersion)
	}
	var out []vuln
	for _, r := range rep.Results {
		for _, v := range r.Vulnerabilities {
			out = append(out, vuln{v.VulnerabilityID, v.PkgName, v.InstalledVersion, v.FixedVersion, v.Severity})
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func freeTCPPort() (int, error) { return testenv.FreePort() }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pushCorruptDB pushes an artifact with Trivy's DB media types whose layer is not a
// DB: a gzip tar with a trivy.db that is not BoltDB.
func pushCorruptDB(ref string) error {
	dir, err := os.MkdirTemp("", "corrupt-db-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "trivy.db"), bytes.Repeat([]byte("not a bolt db "), 1000), 0o644)
	os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"Version":2,"NextUpdate":"2099-01-01T00:00:00Z","UpdatedAt":"2026-01-01T00:00:00Z"}`), 0o644)
	layer, err := testenv.DBArchive(dir, "trivy.db", "metadata.json")
	if err != nil {
		return err
	}
	return testenv.PushDBArtifact(context.Background(), ref, layer)
}

// configWithAuth makes a DOCKER_CONFIG folder with the plugins of configDir (the
// plugin, and docker-buildx on Docker 29) and credentials for registry.
func configWithAuth(t *testing.T, registry, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755)
	plugins, err := os.ReadDir(filepath.Join(configDir, "cli-plugins"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		src := filepath.Join(configDir, "cli-plugins", p.Name())
		target, err := os.Readlink(src)
		if err != nil {
			target = src
		}
		if err := os.Symlink(target, filepath.Join(dir, "cli-plugins", p.Name())); err != nil {
			t.Fatal(err)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, registry, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
