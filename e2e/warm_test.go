//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// The warm scan engine (README, "The warm engine") on a real daemon: these tests give
// --engine-idle themselves. SECSCAN_E2E_ENGINE_IDLE sets $SECSCAN_ENGINE_IDLE for the
// whole suite: 0 runs every other test with one-shot engines, e.g. 10m with warm ones
// (the default outside CI).
func init() {
	if v, ok := os.LookupEnv("SECSCAN_E2E_ENGINE_IDLE"); ok {
		os.Setenv("SECSCAN_ENGINE_IDLE", v)
	}
	daemonTests = append(daemonTests,
		daemonTest{"WarmEngineServesLaterScans", testWarmEngineServesLaterScans},
		daemonTest{"WarmEngineReopensAnUpdatedDB", testWarmEngineReopensAnUpdatedDB},
		daemonTest{"WarmEngineTwoScansAtOnce", testWarmEngineTwoScansAtOnce},
		daemonTest{"WarmEngineKilled", testWarmEngineKilled},
		daemonTest{"WarmEngineReplacedByANewBinary", testWarmEngineReplacedByANewBinary},
		daemonTest{"WarmEngineOffInCIAndIdleExit", testWarmEngineOffInCIAndIdleExit},
	)
}

// warmCache is a cache folder with a short path (a unix socket path is at most 107
// bytes), holding the fixture DB; its engine is stopped at the end of the test.
func warmCache(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if st := engineStatus(t, dir); st.running {
			syscall.Kill(st.pid, syscall.SIGKILL)
		}
		os.RemoveAll(dir)
	})
	return dir
}

type warmStatus struct {
	running  bool
	pid      int
	requests int
	busy     bool
	out      string
}

var (
	pidRe      = regexp.MustCompile(`running, pid (\d+)`)
	requestsRe = regexp.MustCompile(`(\d+) requests? served`)
)

func engineStatus(t *testing.T, cache string) warmStatus {
	t.Helper()
	r := docker(t, nil, "secscan", "engine", "status", "--cache-dir", cache)
	if r.code != 0 {
		t.Fatalf("engine status: %s", r)
	}
	st := warmStatus{out: r.stdout}
	if m := pidRe.FindStringSubmatch(r.stdout); m != nil {
		st.running = true
		st.pid, _ = strconv.Atoi(m[1])
		if m := requestsRe.FindStringSubmatch(r.stdout); m != nil {
			st.requests, _ = strconv.Atoi(m[1])
		}
		st.busy = strings.Contains(r.stdout, "State:       scanning")
	} else if !strings.Contains(r.stdout, "not running") {
		t.Fatalf("engine status: %s", r)
	}
	return st
}

// warmScan scans ref into CACHE/NAME.json with the warm engine of cache (idle 10m unless
// extra says otherwise) and returns the run and its findings.
func warmScan(t *testing.T, cache, ref, name string, extraEnv []string, extra ...string) (result, []vuln) {
	t.Helper()
	out := filepath.Join(cache, name+".json")
	os.RemoveAll(filepath.Join(cache, "scans")) // the engine scans: no scan from the scan cache
	args := append([]string{"secscan", "scan", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "--engine-idle", "10m"}, extra...)
	r := docker(t, extraEnv, append(args, "-f", "json", "-o", out, ref)...)
	if r.code != 0 {
		t.Fatalf("scan %s: %s", ref, r)
	}
	return r, trivyFindings(t, out)
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// testWarmEngineServesLaterScans: the first scan starts the engine, later scans of
// other images are served by it with the findings a one-shot engine gives; engine
// stop ends it.
func testWarmEngineServesLaterScans(t *testing.T) {
	needTestdata(t)
	a, b := env.Registry+"/e2e/warm:39", env.Registry+"/e2e/warm:3.10"
	loadImage(t, "images/alpine-39.tar.gz", a)
	loadImage(t, "images/alpine-3.10.4.tar.gz", b)
	cache := warmCache(t)
	_, fa := warmScan(t, cache, a, "a", nil)
	st := engineStatus(t, cache)
	if !st.running || st.requests != 1 {
		t.Fatalf("after the first scan: %+v", st)
	}
	_, fb := warmScan(t, cache, b, "b", nil)
	st2 := engineStatus(t, cache)
	if st2.pid != st.pid || st2.requests != 2 {
		t.Fatalf("the second scan was not served by the warm engine: %+v then %+v", st, st2)
	}
	// The same images through one-shot engines give the same findings.
	one := t.TempDir()
	for ref, want := range map[string][]vuln{a: fa, b: fb} {
		out := filepath.Join(one, "one.json")
		r := docker(t, nil, "secscan", "scan", "--no-progress", "--cache-dir", one, "--db-repository", dbRepo, "--engine-idle", "0", "-f", "json", "-o", out, ref)
		if r.code != 0 {
			t.Fatal(r)
		}
		if got := trivyFindings(t, out); !reflect.DeepEqual(got, want) || (ref == a && len(got) == 0) {
			t.Fatalf("%s: warm %v, one-shot %v", ref, want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(one, "engine.sock")); err == nil {
		t.Fatal("--engine-idle 0 left a warm engine")
	}
	r := docker(t, nil, "secscan", "engine", "stop", "--cache-dir", cache)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("Stopped the scan engine (pid %d)", st.pid)) || alive(st.pid) {
		t.Fatalf("engine stop: %s", r)
	}
	if st := engineStatus(t, cache); st.running {
		t.Fatalf("after stop: %s", st.out)
	}
}

// testWarmEngineReopensAnUpdatedDB: a DB imported by another process (db import) is the
// one the warm engine's next scan uses.
func testWarmEngineReopensAnUpdatedDB(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/warmdb:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	cache := warmCache(t)
	all, _ := filepath.Glob(filepath.Join(testdata, "trivy-db-fixtures", "*.yaml"))
	var noAlpine []string
	for _, f := range all {
		if filepath.Base(f) != "alpine.yaml" {
			noAlpine = append(noAlpine, f)
		}
	}
	importDB := func(fixtures []string, updated time.Time) {
		dir := filepath.Join(t.TempDir(), "db")
		if err := testenv.BuildDB(dir, fixtures, updated, updated.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if r := docker(t, nil, "secscan", "db", "import", "--cache-dir", cache, dir); r.code != 0 {
			t.Fatalf("db import: %s", r)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	importDB(all, now.Add(-3*time.Hour))
	_, f1 := warmScan(t, cache, ref, "1", nil, "--skip-db-update")
	st := engineStatus(t, cache)
	importDB(noAlpine, now.Add(-2*time.Hour))
	r2, f2 := warmScan(t, cache, ref, "2", nil, "--skip-db-update")
	importDB(all, now.Add(-1*time.Hour))
	_, f3 := warmScan(t, cache, ref, "3", nil, "--skip-db-update")
	st3 := engineStatus(t, cache)
	if len(f1) != 6 || len(f2) != 0 || !reflect.DeepEqual(f1, f3) {
		t.Fatalf("findings with the full DB, without Alpine's advisories, with the full DB again: %d, %d, %d\n%s", len(f1), len(f2), len(f3), r2)
	}
	if !st.running || st3.pid != st.pid || st3.requests != 3 {
		t.Fatalf("the scans were not all served by one warm engine: %+v then %+v", st, st3)
	}
}

// testWarmEngineTwoScansAtOnce: scans from two terminals at once are served one after
// the other by one engine, each with its own image's findings.
func testWarmEngineTwoScansAtOnce(t *testing.T) {
	needTestdata(t)
	refs := []string{env.Registry + "/e2e/warmpar:39", env.Registry + "/e2e/warmpar:3.11"}
	loadImage(t, "images/alpine-39.tar.gz", refs[0])
	loadImage(t, "images/alpine-3.11.5.tar.gz", refs[1])
	// The findings of each, one-shot.
	one := t.TempDir()
	var want [2][]vuln
	for i, ref := range refs {
		out := filepath.Join(one, fmt.Sprint(i)+".json")
		if r := docker(t, nil, "secscan", "scan", "--no-progress", "--cache-dir", one, "--db-repository", dbRepo, "--engine-idle", "0", "-f", "json", "-o", out, ref); r.code != 0 {
			t.Fatal(r)
		}
		want[i] = trivyFindings(t, out)
	}
	if reflect.DeepEqual(want[0], want[1]) {
		t.Fatal("the two images should have different findings")
	}
	for round := range 2 { // the engine not running, then running
		cache := warmCache(t)
		if round == 1 {
			warmScan(t, cache, refs[0], "warmup", nil)
			os.RemoveAll(filepath.Join(cache, "scans"))
		}
		var wg sync.WaitGroup
		var got [2][]vuln
		var runs [2]result
		for i, ref := range refs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := filepath.Join(cache, fmt.Sprint(i)+".json")
				runs[i] = docker(t, nil, "secscan", "scan", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "--engine-idle", "10m", "-f", "json", "-o", out, ref)
				if runs[i].code == 0 {
					got[i] = trivyFindings(t, out)
				}
			}()
		}
		wg.Wait()
		for i := range refs {
			if runs[i].code != 0 || !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("round %d, scan %d: %v, want %v\n%s", round, i, got[i], want[i], runs[i])
			}
		}
		if st := engineStatus(t, cache); !st.running || st.requests != 2+round {
			t.Fatalf("round %d: not one engine for both scans: %s", round, st.out)
		}
	}
}

// bigImage builds an image on alpine 3.9 with a large incompressible file, so that its
// scan takes long enough to be interrupted.
func bigImage(t *testing.T, ref string) {
	t.Helper()
	base := env.Registry + "/e2e/warmbig:base"
	loadImage(t, "images/alpine-39.tar.gz", base)
	dir := t.TempDir()
	writeFile(t, dir, "Dockerfile", "FROM "+base+"\nRUN head -c 300000000 /dev/urandom > /big\n")
	var benv []string
	if env.Engine == "20.10" {
		benv = []string{"DOCKER_BUILDKIT=0"}
	}
	if r := docker(t, benv, "build", "-q", "-t", ref, dir); r.code != 0 {
		t.Fatalf("build: %s", r)
	}
}

// testWarmEngineKilled: an engine killed (kill -9) while idle is replaced silently; one
// killed during a scan is started again once and the scan is done again, with the
// image's findings.
func testWarmEngineKilled(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/warmbig:1"
	bigImage(t, ref)
	small := env.Registry + "/e2e/warmkill:39"
	loadImage(t, "images/alpine-39.tar.gz", small)
	cache := warmCache(t)
	_, want := warmScan(t, cache, small, "small", nil)
	st := engineStatus(t, cache)
	// Mid-idle.
	syscall.Kill(st.pid, syscall.SIGKILL)
	r, got := warmScan(t, cache, small, "small2", nil, "--skip-db-update")
	if st2 := engineStatus(t, cache); !st2.running || st2.pid == st.pid || !reflect.DeepEqual(got, want) || strings.Contains(r.stderr, "stopped") {
		t.Fatalf("after kill -9 of the idle engine: %+v\n%s", st2, r)
	}
	// Mid-scan: the scan of the big image is under way when its engine is killed.
	killed := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if s := engineStatus(t, cache); s.busy {
				syscall.Kill(s.pid, syscall.SIGKILL)
				killed <- s.pid
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		killed <- 0
	}()
	r, got = warmScan(t, cache, ref, "big", nil, "--skip-db-update")
	pid := <-killed
	if pid == 0 {
		t.Fatalf("the engine was never seen scanning: %s", r)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("The scan engine (pid %d) stopped before it answered: starting it again", pid)) || !reflect.DeepEqual(got, want) {
		t.Fatalf("after kill -9 mid-scan: %v (want %v)\n%s", got, want, r)
	}
	if st3 := engineStatus(t, cache); !st3.running || st3.pid == pid {
		t.Fatalf("no new engine after the kill: %s", st3.out)
	}
}

// testWarmEngineReplacedByANewBinary: an engine binary reinstalled (a new plugin
// version) is never served by the engine that runs: that one stops, the new one scans.
func testWarmEngineReplacedByANewBinary(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/warmnew:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	realPlugin, _ := filepath.EvalSymlinks(filepath.Join(configDir, "cli-plugins", "docker-secscan"))
	src := filepath.Join(filepath.Dir(realPlugin), "secscan-engine")
	bin := filepath.Join(t.TempDir(), "secscan-engine")
	install := func() {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(bin+".new", b, 0o755)
		os.Rename(bin+".new", bin)
	}
	install()
	envv := []string{"SECSCAN_ENGINE=" + bin}
	cache := warmCache(t)
	_, want := warmScan(t, cache, ref, "1", envv)
	old := engineStatus(t, cache)
	install() // `make install` again
	r, got := warmScan(t, cache, ref, "2", envv, "--skip-db-update")
	nw := engineStatus(t, cache)
	if !old.running || !nw.running || nw.pid == old.pid || nw.requests != 1 || !reflect.DeepEqual(got, want) {
		t.Fatalf("a reinstalled engine: %+v then %+v\n%s", old, nw, r)
	}
	for deadline := time.Now().Add(5 * time.Second); alive(old.pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the old engine %d still runs", old.pid)
		}
	}
}

// testWarmEngineOffInCIAndIdleExit: CI=true scans with one-shot engines (unless told
// otherwise); a warm engine exits after its idle time.
func testWarmEngineOffInCIAndIdleExit(t *testing.T) {
	needTestdata(t)
	ref := env.Registry + "/e2e/warmci:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	cache := warmCache(t)
	ci := []string{"CI=true", "SECSCAN_ENGINE_IDLE="}
	r := docker(t, ci, "secscan", "scan", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, ref)
	if r.code != 0 && r.code != 2 {
		t.Fatal(r)
	}
	if st := engineStatus(t, cache); st.running {
		t.Fatalf("CI=true started a warm engine: %s", st.out)
	}
	if _, err := os.Stat(filepath.Join(cache, "engine.sock")); err == nil {
		t.Fatal("CI=true left a socket")
	}
	// $SECSCAN_ENGINE_IDLE wins over CI=true; the engine exits after its idle time.
	os.RemoveAll(filepath.Join(cache, "scans"))
	r = docker(t, []string{"CI=true", "SECSCAN_ENGINE_IDLE=2s"}, "secscan", "scan", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, ref)
	st := engineStatus(t, cache)
	if (r.code != 0 && r.code != 2) || !st.running {
		t.Fatalf("SECSCAN_ENGINE_IDLE=2s in CI: %s\n%s", st.out, r)
	}
	time.Sleep(3500 * time.Millisecond)
	if alive(st.pid) || engineStatus(t, cache).running {
		t.Fatalf("the engine %d did not exit after 2s idle", st.pid)
	}
}
