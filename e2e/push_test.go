//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// goldenFindings reads the findings of one of Trivy's golden reports.
func goldenFindings(t *testing.T, name string) []vuln {
	return trivyFindings(t, filepath.Join(testdata, "golden", name))
}

func testPluginIsListedAndAnswers(t *testing.T) {
	r := mustDocker(t, "--help")
	if !strings.Contains(r.stdout, "secscan*") && !strings.Contains(r.stdout, "secscan") {
		t.Fatalf("docker --help does not list secscan:\n%s", r.stdout)
	}
	r = mustDocker(t, "secscan", "version")
	if !strings.Contains(r.stdout, "docker-secscan") || !strings.Contains(r.stdout, "trivy v0.74.0") {
		t.Fatalf("docker secscan version: %s", r)
	}
	r = mustDocker(t, "secscan", "--help")
	for _, want := range []string{"push", "scan", "db", "Exit codes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("docker secscan --help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func testPushAlpine39IsBlockedWithGoldenFindings(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/alpine:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	report := filepath.Join(t.TempDir(), "report.json")

	r := secscan(t, "push", "--format", "json", "-o", report, ref)
	if r.code != 2 {
		t.Fatalf("push of alpine-39 should be blocked with exit 2: %s", r)
	}
	if registryHasTag(t, env.Registry, "e2e/alpine", "39") {
		t.Fatal("the blocked image is in the registry")
	}
	got := trivyFindings(t, report)
	want := goldenFindings(t, "alpine-39.json.golden")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("findings differ from Trivy's golden:\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(r.stderr, "blocked:") {
		t.Errorf("no verdict line on stderr: %s", r)
	}

	// Its findings include CRITICAL ones: a CRITICAL threshold still blocks.
	r = secscan(t, "push", "--severity-threshold", "CRITICAL", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)
	if r.code != 2 || registryHasTag(t, env.Registry, "e2e/alpine", "39") {
		t.Fatalf("--severity-threshold CRITICAL should still block: %s", r)
	}
}

func testPushWarnModePushesTheScannedImage(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/warn:39"
	id := loadImage(t, "images/alpine-39.tar.gz", ref)

	r := secscan(t, "push", "--mode", "warn", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)
	if r.code != 0 {
		t.Fatalf("--mode warn should push and exit 0: %s", r)
	}
	if !registryHasTag(t, env.Registry, "e2e/warn", "39") {
		t.Fatal("the registry does not serve the pushed tag")
	}
	checkPushedIsScanned(t, env.Registry, "e2e/warn", "39", id)
	if !strings.Contains(r.stderr, "passed with warnings") || !strings.Contains(r.stderr, "Pushed ") {
		t.Errorf("stderr lacks the verdict or the pushed digest: %s", r)
	}
}

func testPushCleanImagePasses(t *testing.T) {
	needTestdata(t)
	for _, img := range []string{"alpine-3.10.4", "alpine-3.11.5"} {
		t.Run(img, func(t *testing.T) {
			tag := strings.TrimPrefix(img, "alpine-")
			ref := env.Registry + "/e2e/clean:" + tag
			id := loadImage(t, "images/"+img+".tar.gz", ref)
			report := filepath.Join(t.TempDir(), "r.json")
			r := secscan(t, "push", "-f", "json", "-o", report, ref)
			findings := trivyFindings(t, report)
			blocking := 0
			for _, f := range findings {
				if f.Severity == "HIGH" || f.Severity == "CRITICAL" {
					blocking++
				}
			}
			if blocking > 0 {
				if r.code != 2 {
					t.Fatalf("%d HIGH/CRITICAL findings but exit %d: %s", blocking, r.code, r)
				}
				t.Skipf("%s has %d HIGH/CRITICAL findings under the fixtures; not a clean image", img, blocking)
			}
			if img == "alpine-3.11.5" {
				// Trivy's fixture DB has no data for Alpine 3.11: no finding is not a
				// clean scan (gate.on-unsupported-os, default block) ...
				if r.code != 2 || !strings.Contains(r.stderr, "not checked") {
					t.Fatalf("an OS release the DB does not cover must block (exit 2) and say so: %s", r)
				}
				if registryHasTag(t, env.Registry, "e2e/clean", tag) {
					t.Fatal("an image whose OS packages were not checked reached the registry")
				}
				// ... unless the policy accepts that, and says so.
				pol := writeFile(t, t.TempDir(), "p.yaml", "gate:\n  on-unsupported-os: warn\n")
				if r = secscan(t, "push", "--policy", pol, "-f", "json", "-o", report, ref); r.code != 0 {
					t.Fatalf("on-unsupported-os: warn should push: %s", r)
				}
			} else if r.code != 0 {
				t.Fatalf("clean image should be pushed with exit 0 (findings %v): %s", findings, r)
			}
			checkPushedIsScanned(t, env.Registry, "e2e/clean", tag, id)
		})
	}
}

func testScanSelfBuiltMinirootfsImage(t *testing.T) {
	needTestdata(t)
	dir := t.TempDir()
	src := filepath.Join(testdata, "rootfs", "alpine-minirootfs", "alpine-minirootfs-3.20.3-x86_64.tar.gz")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rootfs.tar.gz"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nADD rootfs.tar.gz /\nCMD [\"/bin/sh\"]\n"), 0o644)
	mustDocker(t, "build", "-q", "-t", "e2e/minirootfs:3.20.3", dir)

	report := filepath.Join(dir, "r.json")
	r := secscan(t, "scan", "-f", "json", "-o", report, "e2e/minirootfs:3.20.3")
	if r.code != 0 {
		t.Fatalf("scan failed: %s", r)
	}
	var rep struct {
		Metadata struct {
			OS struct{ Family, Name string }
		}
		Results []struct{ Target string }
	}
	data, _ := os.ReadFile(report)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Metadata.OS.Family != "alpine" || rep.Metadata.OS.Name != "3.20.3" {
		t.Fatalf("OS detected as %+v, want alpine 3.20.3", rep.Metadata.OS)
	}

	// Scan by image ID and by ID prefix, and the table format on stdout.
	id := imageID(t, "e2e/minirootfs:3.20.3")
	for _, in := range []string{id, strings.TrimPrefix(id, "sha256:")[:12]} {
		r := secscan(t, "scan", in)
		if r.code != 0 || !strings.Contains(r.stdout, "alpine") {
			t.Fatalf("scan %s: %s", in, r)
		}
	}
}

func TestDBStatusAndUpdate(t *testing.T) {
	needTestdata(t)
	cache := t.TempDir()
	r := docker(t, nil, "secscan", "db", "status", "--cache-dir", cache)
	if r.code != 1 || !strings.Contains(r.stderr, "db update") {
		t.Fatalf("db status on an empty cache should fail and say how to fix it: %s", r)
	}
	r = docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo)
	if r.code != 0 {
		t.Fatalf("db update: %s", r)
	}
	r = docker(t, nil, "secscan", "db", "status", "--cache-dir", cache, "--format", "json")
	var st struct {
		SchemaVersion int
		Source        string
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.SchemaVersion != 2 {
		t.Fatalf("db status json: %v: %s", err, r)
	}
	if st.Source != dbRepo+":2" {
		t.Errorf("db status source = %q, want %s:2", st.Source, dbRepo)
	}
}

func testBadInputFailsClosedWithOneLine(t *testing.T) {
	needTestdata(t)
	clean := env.Registry + "/e2e/bad:clean"
	loadImage(t, "images/alpine-3.10.4.tar.gz", clean)
	freePort := func() int {
		p, err := freeTCPPort()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	unreachable := fmt.Sprintf("127.0.0.1:%d", freePort())
	loadImage(t, "images/alpine-3.10.4.tar.gz", unreachable+"/e2e/bad:1")

	tests := []struct {
		name string
		env  []string
		args []string
		want string
		repo string // registry repository that must stay absent
	}{
		{"not in local store", nil, []string{"push", env.Registry + "/e2e/missing:1"}, "not in the local image store", "e2e/missing"},
		{"upper-case repository", nil, []string{"push", env.Registry + "/E2E/Upper:1"}, "lower-case", ""},
		{"truncated digest", nil, []string{"scan", "alpine@sha256:0559369d39"}, "64 hex digits", ""},
		{"push of an image ID", nil, []string{"push", "sha256:" + strings.Repeat("0", 64)}, "not an image ID", ""},
		{"report path twice", nil, []string{"scan", "-o", "same.json", "--report", "json=same.json", clean}, "already the path of --output", ""},
		{"daemon unreachable", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"push", clean}, "", ""},
		{"registry unreachable", nil, []string{"push", unreachable + "/e2e/bad:1"}, unreachable, ""},
		{"no DB and no way to get one", nil, []string{"push", "--cache-dir", t.TempDir(), "--db-repository", unreachable + "/no-db", clean}, "vulnerability DB", "e2e/bad"},
		{"no DB and --skip-db-update", nil, []string{"push", "--cache-dir", t.TempDir(), "--skip-db-update", clean}, "skip-db-update", "e2e/bad"},
		{"bad severity", nil, []string{"push", "--severity-threshold", "SEVERE", clean}, "--severity-threshold", "e2e/bad"},
		{"bad mode", nil, []string{"push", "--mode", "audit", clean}, "--mode", "e2e/bad"},
		{"bad format", nil, []string{"scan", "--format", "xml", clean}, "--format", ""},
		{"unknown flag", nil, []string{"push", "--frobnicate", clean}, "unknown flag: --frobnicate", "e2e/bad"},
		{"output is a folder", nil, []string{"push", "-o", t.TempDir(), clean}, "is a folder", "e2e/bad"},
		{"output folder missing", nil, []string{"push", "-o", "/nonexistent/dir/r.json", clean}, "does not exist", "e2e/bad"},
		{"bad report spec", nil, []string{"push", "--report", "pdf=r.pdf", clean}, "unknown format", "e2e/bad"},
		{"bad connection string", []string{"APPLICATIONINSIGHTS_CONNECTION_STRING=not-a-connection-string"}, []string{"push", clean}, "connection string is malformed", "e2e/bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"secscan"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--cache-dir") {
				args = append(args[:2:2], append([]string{"--cache-dir", cacheDir, "--db-repository", dbRepo, "--no-progress"}, tt.args[1:]...)...)
			}
			r := docker(t, tt.env, args...)
			if r.code != 1 {
				t.Fatalf("want exit 1: %s", r)
			}
			checkOneLineError(t, r, tt.want)
			if tt.repo != "" && registryHasTag(t, env.Registry, tt.repo, "clean") {
				t.Fatalf("something was pushed to %s", tt.repo)
			}
		})
	}
}

func testCorruptDBArtifact(t *testing.T) {
	needTestdata(t)
	clean := env.Registry + "/e2e/corrupt:1"
	loadImage(t, "images/alpine-3.10.4.tar.gz", clean)
	repo := env.Registry + "/corrupt-db"
	if err := pushCorruptDB(repo + ":2"); err != nil {
		t.Fatal(err)
	}
	r := docker(t, nil, "secscan", "push", "--no-progress", "--cache-dir", t.TempDir(), "--db-repository", repo, clean)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	checkOneLineError(t, r, "vulnerability DB")
	if registryHasTag(t, env.Registry, "e2e/corrupt", "1") {
		t.Fatal("pushed with a corrupt DB")
	}
}

func testRegistryCredentials(t *testing.T) {
	needTestdata(t)
	const password = "right-password-4711"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := env.StartRegistry(ctxT(t), "auth-registry", "secscan:"+string(hash)+"\n")
	if err != nil {
		t.Fatal(err)
	}
	ref := reg + "/e2e/auth:1"
	id := loadImage(t, "images/alpine-3.10.4.tar.gz", ref)

	t.Run("anonymous is refused", func(t *testing.T) {
		r := secscan(t, "push", ref)
		if r.code != 1 {
			t.Fatalf("want exit 1: %s", r)
		}
		checkOneLineError(t, r, "")
	})
	t.Run("wrong password is refused", func(t *testing.T) {
		r := dockerWith(t, configWithAuth(t, reg, "secscan", "wrong-password-0815"), nil, secscanArgs("push", ref)...)
		if r.code != 1 {
			t.Fatalf("want exit 1: %s", r)
		}
		checkOneLineError(t, r, "")
		if strings.Contains(r.stdout+r.stderr, "wrong-password-0815") {
			t.Fatal("the password appears in the output")
		}
	})
	t.Run("right password pushes", func(t *testing.T) {
		r := dockerWith(t, configWithAuth(t, reg, "secscan", password), nil, secscanArgs("push", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)...)
		if r.code != 0 {
			t.Fatalf("want exit 0: %s", r)
		}
		if strings.Contains(r.stdout+r.stderr, password) {
			t.Fatal("the password appears in the output")
		}
		if !strings.Contains(r.stderr, "Pushed "+ref+"@sha256:") {
			t.Fatalf("no pushed digest: %s", r)
		}
		_ = id
	})
}

// checkOneLineError asserts that stderr ends with exactly one "docker secscan:" error
// line containing want, and that no usage text was dumped.
func checkOneLineError(t *testing.T, r result, want string) {
	t.Helper()
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.HasPrefix(l, "docker secscan: ") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want exactly one error line: %s", r)
	}
	if !strings.Contains(errs[0], want) {
		t.Fatalf("error line %q does not mention %q", errs[0], want)
	}
	t.Logf("error line: %s", errs[0])
	if strings.Contains(r.stderr, "Usage:") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("usage dump or panic: %s", r)
	}
}

func testPushJSONOnStdoutStaysValid(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/stdout:1"
	loadImage(t, "images/alpine-3.10.4.tar.gz", ref)
	r := secscan(t, "push", "-f", "json", ref)
	if r.code != 0 {
		t.Fatalf("push: %s", r)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stderr, "Pushed ") {
		t.Fatalf("push progress and result belong on stderr: %s", r)
	}
}

// A plain-HTTP registry that the daemon treats as insecure (all of 127.0.0.0/8 by
// default) but that is not localhost/127.0.0.1: the read-back check must use HTTP too.
func testPushToInsecureRegistry(t *testing.T) {
	needTestdata(t)
	reg, err := env.StartRegistryAt(ctxT(t), "insecure-registry", "127.0.0.2", "")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	ref := reg + "/e2e/insecure:1"
	id := loadImage(t, "images/alpine-3.10.4.tar.gz", ref)
	r := secscan(t, "push", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)
	if r.code != 0 {
		t.Fatalf("push to an insecure registry: %s", r)
	}
	checkPushedIsScanned(t, reg, "e2e/insecure", "1", id)
}

func testRescanOfUnchangedImageUsesTheCache(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/rescan:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	cache := t.TempDir()
	// A wrapper around the real engine logs every engine process started.
	realPlugin, _ := filepath.EvalSymlinks(filepath.Join(configDir, "cli-plugins", "docker-secscan"))
	calls := filepath.Join(t.TempDir(), "calls")
	wrapper := writeFile(t, t.TempDir(), "engine", "#!/bin/sh\necho \"$1\" >> "+calls+"\nexec "+filepath.Join(filepath.Dir(realPlugin), "secscan-engine")+" \"$@\"\n")
	os.Chmod(wrapper, 0o755)
	envv := []string{"SECSCAN_ENGINE=" + wrapper}
	args := []string{"secscan", "scan", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "-f", "json", "--report", "sarif=" + filepath.Join(cache, "r.sarif"), "-o"}
	first := docker(t, envv, append(args, filepath.Join(cache, "a.json"), ref)...)
	b, _ := os.ReadFile(calls)
	// One engine: a one-shot "scan", or a warm engine ("serve", see warm_test.go).
	if got := strings.Fields(string(b)); !reflect.DeepEqual(got, []string{"scan"}) && !reflect.DeepEqual(got, []string{"serve"}) {
		t.Errorf("a cold scan with two Trivy-format reports should start one engine, started %v", got)
	}
	os.Remove(calls)
	second := docker(t, envv, append(args, filepath.Join(cache, "b.json"), ref)...)
	if first.code != 0 || second.code != 0 || strings.Contains(first.stderr, "from the cache") || !strings.Contains(second.stderr, "from the cache") {
		t.Fatalf("first:\n%s\nsecond:\n%s", first, second)
	}
	if b, _ := os.ReadFile(calls); len(b) != 0 {
		t.Errorf("a warm re-scan should start no engine, started %q", b)
	}
	if a, b := trivyFindings(t, filepath.Join(cache, "a.json")), trivyFindings(t, filepath.Join(cache, "b.json")); !reflect.DeepEqual(a, b) || len(a) != 6 {
		t.Fatalf("cached findings differ: %v vs %v", a, b)
	}
}
