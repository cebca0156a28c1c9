//go:build e2e

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// appContext writes a build context: FROM scratch adding an Alpine minirootfs whose
// release files and apk repositories say Alpine 3.9.4 and whose apk database lists musl at the given version
// (1.1.20-r4 is vulnerable to CVE-2019-14697, CRITICAL, fixed in 1.1.20-r5 per Trivy's
// fixtures, which have advisories for Alpine 3.9 and 3.10 only).
func appContext(t *testing.T, muslVersion, extra string) string {
	t.Helper()
	dir := t.TempDir()
	replace := map[string]string{
		"./etc/os-release":       "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.9.4\nPRETTY_NAME=\"Alpine Linux v3.9\"\n",
		"./etc/alpine-release":   "3.9.4\n",
		"./etc/apk/repositories": "https://dl-cdn.alpinelinux.org/alpine/v3.9/main\nhttps://dl-cdn.alpinelinux.org/alpine/v3.9/community\n",
		"./lib/apk/db/installed": "P:musl\nV:" + muslVersion + "\nA:x86_64\no:musl\n\n",
	}
	in, err := os.Open(filepath.Join(testdata, "rootfs", "alpine-minirootfs", "alpine-minirootfs-3.20.3-x86_64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.Create(filepath.Join(dir, "rootfs.tar"))
	tw := tar.NewWriter(out)
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if content, ok := replace[h.Name]; ok && h.Typeflag == tar.TypeReg {
			h.Size = int64(len(content))
			tw.WriteHeader(h)
			io.WriteString(tw, content)
			continue
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.Close()
	out.Close()
	writeFile(t, dir, "Dockerfile", "FROM scratch\nADD rootfs.tar /\nUSER 1000\n"+extra)
	return dir
}

func testBuildGatesAndPushes(t *testing.T) {
	needTestdata(t)
	vulnerable := env.Registry + "/e2e/app:1"
	r := docker(t, nil, secscanArgs("build", "-t", vulnerable, "--push", "--report", "secscan-json="+filepath.Join(t.TempDir(), "r.json"), appContext(t, "1.1.20-r4", ""))...)
	if r.code != 2 || registryHasTag(t, env.Registry, "e2e/app", "1") {
		t.Fatalf("a vulnerable build must be blocked and not pushed: %s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "CVE-2019-14697") {
		t.Fatalf("the report does not name the finding: %s", r)
	}

	clean := env.Registry + "/e2e/app:2"
	also := env.Registry + "/e2e/app:latest"
	r = docker(t, nil, secscanArgs("build", "-t", clean, "--tag", also, "--push", appContext(t, "1.1.20-r5", ""))...)
	if r.code != 0 {
		t.Fatalf("a clean build passes and is pushed: %s", r)
	}
	id := imageID(t, clean)
	for _, tag := range []string{"2", "latest"} {
		checkPushedIsScanned(t, env.Registry, "e2e/app", tag, id)
	}
}

func testBuildFailurePassesThrough(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM scratch\nTHIS IS NOT AN INSTRUCTION\n")
	plain := docker(t, nil, "build", "-t", "e2e/broken:1", dir)
	r := docker(t, nil, "secscan", "build", "-t", "e2e/broken:1", dir)
	if plain.code == 0 || r.code != plain.code {
		t.Fatalf("exit %d, plain docker build exit %d: %s", r.code, plain.code, r)
	}
	if !strings.Contains(r.stderr, "THIS") || strings.Contains(r.stderr, "docker secscan:") {
		t.Fatalf("the build's own message must pass through, alone: %s", r)
	}
	r = docker(t, nil, "secscan", "build", "--push", dir)
	if r.code != 1 {
		t.Fatalf("--push without -t: %s", r)
	}
	checkOneLineError(t, r, "--push needs")
}

// testHooks runs the real docker CLI on a pseudo-terminal (script), as hooks need.
func testHooks(t *testing.T) {
	needTestdata(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script (util-linux) not found")
	}
	cfg := configWithAuth(t, "registry.example.com", "someone", "s3cret-pass")
	// Other plugins' settings and credentials, in the CLI's own format.
	original := "{\n\t\"auths\": {\n\t\t\"registry.example.com\": {\n\t\t\t\"auth\": \"c29tZW9uZTpzM2NyZXQtcGFzcw==\"\n\t\t}\n\t},\n\t\"plugins\": {\n\t\t\"other\": {\n\t\t\t\"hooks\": \"image ls\"\n\t\t}\n\t},\n\t\"features\": {\n\t\t\"hooks\": \"true\"\n\t}\n}\n"
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte(original), 0o600)

	if r := dockerWith(t, cfg, nil, "secscan", "hooks", "enable"); r.code != 0 {
		t.Fatal(r)
	}
	if r := dockerWith(t, cfg, nil, "secscan", "hooks", "status"); !strings.Contains(r.stdout, "enabled for: build,buildx build,push,image push") {
		t.Fatalf("status: %s", r)
	}
	ctxDir := appContext(t, "1.1.20-r5", "")
	onTTY := func(args string) string {
		cmd := exec.Command("script", "-qec", dockerPath(t)+" "+args, "/dev/null")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+env.DockerHost, "DOCKER_CONFIG="+cfg)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	out := onTTY("build -q -t e2e/hooked:1 " + ctxDir)
	if !strings.Contains(out, "Gate it before pushing: docker secscan push NAME:TAG") {
		t.Fatalf("no hint after docker build on a terminal:\n%s", out)
	}
	ref := env.Registry + "/e2e/hooked:1"
	mustDocker(t, "tag", "e2e/hooked:1", ref)
	out = onTTY("push " + ref)
	if !strings.Contains(out, ref+" was pushed without a vulnerability gate") {
		t.Fatalf("no hint after docker push on a terminal:\n%s", out)
	}

	if r := dockerWith(t, cfg, nil, "secscan", "hooks", "disable"); r.code != 0 {
		t.Fatal(r)
	}
	if out := onTTY("build -q -t e2e/hooked:1 " + ctxDir); strings.Contains(out, "docker secscan") {
		t.Fatalf("a hint after disable:\n%s", out)
	}
	b, _ := os.ReadFile(filepath.Join(cfg, "config.json"))
	if string(b) != original {
		t.Fatalf("the config file changed beyond our key:\n%s\nwant:\n%s", b, original)
	}
}

func testBuildHonoursItsGateFlags(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/bpbuild:1"
	// The clean image has no HEALTHCHECK (CIS-DI-0006): with best-practices block it is blocked.
	r := docker(t, nil, secscanArgs("build", "--best-practices", "block", "-qt", ref, "--push", appContext(t, "1.1.20-r5", ""))...)
	if r.code != 2 || registryHasTag(t, env.Registry, "e2e/bpbuild", "1") {
		t.Fatalf("build --best-practices block must block: %s", r)
	}
	r = docker(t, nil, secscanArgs("build", "-t", ref, "-o", "type=registry", appContext(t, "1.1.20-r5", ""))...)
	if r.code != 1 {
		t.Fatalf("an output that pushes from the builder must be refused: %s", r)
	}
	checkOneLineError(t, r, "without the gate")
}

func testBrokenEngineFailsClosed(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/poison:1"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	fake := writeFile(t, t.TempDir(), "fake-engine", "#!/bin/sh\ncat >/dev/null\necho '{}'\n")
	os.Chmod(fake, 0o755)
	cache := t.TempDir()
	args := []string{"secscan", "push", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "--mode", "warn", ref}
	r := docker(t, []string{"SECSCAN_ENGINE=" + fake}, args...)
	if r.code != 1 || registryHasTag(t, env.Registry, "e2e/poison", "1") {
		t.Fatalf("an engine answer that is no scan must fail closed: %s", r)
	}
	checkOneLineError(t, r, "no valid scan")
	r = docker(t, nil, append(args[:len(args)-3:len(args)-3], "--mode", "block", ref)...)
	if r.code != 2 || strings.Contains(r.stderr, "from the cache") {
		t.Fatalf("the real engine must scan (nothing cached from the broken one) and block: %s", r)
	}
}

func TestHooksThroughASymlinkedConfig(t *testing.T) {
	cfg := configWithAuth(t, "registry.example.com", "u", "p")
	real := filepath.Join(t.TempDir(), "dotfiles-config.json")
	os.WriteFile(real, []byte("{\n\t\"features\": {\n\t\t\"hooks\": \"false\"\n\t}\n}\n"), 0o600)
	os.Remove(filepath.Join(cfg, "config.json"))
	os.Symlink(real, filepath.Join(cfg, "config.json"))
	r := dockerWith(t, cfg, nil, "secscan", "hooks", "enable")
	if r.code != 0 {
		t.Fatalf("enable through a symlink: %s", r)
	}
	if st, _ := os.Lstat(filepath.Join(cfg, "config.json")); st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	if r := dockerWith(t, cfg, nil, "secscan", "hooks", "disable"); r.code != 0 {
		t.Fatal(r)
	}
	if b, _ := os.ReadFile(real); string(b) != "{\n\t\"features\": {\n\t\t\"hooks\": \"false\"\n\t}\n}\n" {
		t.Fatalf("disable did not restore features.hooks: %s", b)
	}
}

// TestHooksDisableRestoresTheSwitchDespiteOtherPlugins: features.hooks goes back to
// what it was when the other plugins with hooks were already there at enable, and stays
// on (with a note) when one declared hooks since.
func TestHooksDisableRestoresTheSwitchDespiteOtherPlugins(t *testing.T) {
	cfg := configWithAuth(t, "registry.example.com", "u", "p")
	path := filepath.Join(cfg, "config.json")
	orig := "{\n\t\"features\": {\n\t\t\"hooks\": \"false\"\n\t},\n\t\"plugins\": {\n\t\t\"debug\": {\n\t\t\t\"hooks\": \"build\"\n\t\t}\n\t}\n}\n"
	os.WriteFile(path, []byte(orig), 0o600)
	for _, c := range []string{"enable", "disable"} {
		if r := dockerWith(t, cfg, nil, "secscan", "hooks", c); r.code != 0 {
			t.Fatalf("%s: %s", c, r)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Fatalf("enable then disable should give back the file as it was:\n%s", b)
	}
	if r := dockerWith(t, cfg, nil, "secscan", "hooks", "enable"); r.code != 0 {
		t.Fatal(r)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"debug": {`, `"late": {"hooks": "push"}, "debug": {`, 1)), 0o600)
	r := dockerWith(t, cfg, nil, "secscan", "hooks", "disable")
	if b, _ := os.ReadFile(path); r.code != 0 || !strings.Contains(r.stderr, "late") || !strings.Contains(string(b), `"hooks": "true"`) {
		t.Fatalf("a plugin that declared hooks since keeps them on, with a note: %s\n%s", r, b)
	}
}
