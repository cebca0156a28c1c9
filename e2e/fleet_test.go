//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// The fleet (README, "Fleet"): runners scan through a real `trivy server` v0.74.0 (the
// Trivy CLI built from the module proxy, as make bench builds it) whose cache backend is
// a private redis-server, with the fixture DB from the engine's registry.

func init() {
	daemonTests = append(daemonTests,
		daemonTest{"ServerScanOfAlpine39MatchesGoldenAndPushesNothing", testServerScanOfAlpine39MatchesGolden},
		daemonTest{"ServerAndRedisFailuresPushNothing", testServerAndRedisFailuresPushNothing},
		daemonTest{"FleetOf12Runners", testFleetOf12Runners},
		daemonTest{"RedisCacheWithoutServerIsSharedAndNeverTrustedBlindly", testRedisCacheWithoutServer},
		daemonTest{"RedisOverTLSWithClientCertificates", testRedisOverTLS},
		daemonTest{"ServerGatesBestPracticesAndUncheckedReleases", testServerGatesBestPracticesAndUncheckedReleases},
		daemonTest{"ServerThatHangsTimesOut", testServerThatHangsTimesOut},
	)
}

// fleetSecret signs the scans in Redis ($SECSCAN_CACHE_SECRET) in these tests.
const fleetSecret = "fleet-cache-secret-4b8e2a6c"

// secretEnv is the environment of a runner that shares scans through Redis.
var secretEnv = []string{"SECSCAN_CACHE_SECRET=" + fleetSecret}

// fleetToken is the server's token in these tests; it must never be printed.
const fleetToken = "fleet-token-7f3a9c21d4"

// fleetEnv is a Redis and a Trivy server using it, stopped at the end of the test.
type fleetEnv struct {
	redis  *testenv.Redis
	server *testenv.TrivyServer
}

func startFleet(t *testing.T) *fleetEnv {
	t.Helper()
	return startFleetWith(t, dbRepo)
}

// startFleetWith starts the fleet's server with the DB in repository db.
func startFleetWith(t *testing.T, db string) *fleetEnv {
	t.Helper()
	needTestdata(t)
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	trivy, err := testenv.TrivyCLI(logf)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(env.Dir, "fleet-")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	rd, err := testenv.StartRedis(ctx, filepath.Join(dir, "redis"), logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Stop)
	t0 := time.Now()
	srv, err := testenv.StartTrivyServer(ctx, trivy, filepath.Join(dir, "server"), rd.URL(), fleetToken, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Logf("redis at %s, trivy server at %s (ready in %s)", rd.Addr, srv.URL, time.Since(t0).Round(100*time.Millisecond))
	return &fleetEnv{redis: rd, server: srv}
}

// runner runs `docker secscan ARGS` as one CI runner: its own empty cache folder, no DB
// repository, the token in the environment.
func (f *fleetEnv) runner(t *testing.T, cache string, extraEnv []string, args ...string) result {
	t.Helper()
	full := append([]string{"secscan", args[0], "--cache-dir", cache, "--no-progress", "--server", f.server.URL}, args[1:]...)
	return docker(t, append([]string{"SECSCAN_TOKEN=" + fleetToken, "SECSCAN_CACHE_SECRET=" + fleetSecret}, extraEnv...), full...)
}

// redisKeys counts the keys matching pattern.
func redisKeys(t *testing.T, addr, pattern string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	keys, err := c.Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatalf("redis KEYS %s: %v", pattern, err)
	}
	return len(keys)
}

// noSecret fails when the token or a password shows in any of the texts or files.
func noSecret(t *testing.T, secret string, texts []string, files ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("the secret %q shows in the output:\n%s", secret, s)
		}
	}
	for _, f := range files {
		filepath.Walk(f, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
				t.Errorf("the secret %q is in %s", secret, p)
			}
			return nil
		})
	}
}

// noLocalDB fails when a runner's cache folder holds a DB (it downloaded one).
func noLocalDB(t *testing.T, cache string, r result) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cache, "db")); err == nil {
		t.Errorf("the runner's cache %s holds a DB: it downloaded one", cache)
	}
	if strings.Contains(r.stderr, "Downloading the vulnerability DB") {
		t.Errorf("the runner downloaded the DB: %s", r)
	}
}

func testServerScanOfAlpine39MatchesGolden(t *testing.T) {
	f := startFleet(t)
	ref := env.Registry + "/fleet/alpine:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	out := t.TempDir()
	cache := filepath.Join(out, "runner-cache")
	report, sj := filepath.Join(out, "report.json"), filepath.Join(out, "report.secscan.json")

	r := f.runner(t, cache, nil, "push", "--format", "json", "-o", report, "--report", "secscan-json="+sj, "--debug", ref)
	if r.code != 2 {
		t.Fatalf("push of alpine-39 through the server should be blocked with exit 2: %s", r)
	}
	if registryHasTag(t, env.Registry, "fleet/alpine", "39") {
		t.Fatal("the blocked image is in the registry")
	}
	if got, want := trivyFindings(t, report), goldenFindings(t, "alpine-39.json.golden"); !reflect.DeepEqual(got, want) {
		t.Fatalf("findings through the server differ from Trivy's golden:\n got %v\nwant %v", got, want)
	}
	noLocalDB(t, cache, r)
	// The report names the server's DB (what max-db-age judges).
	var srvInfo struct{ VulnerabilityDB struct{ UpdatedAt time.Time } }
	resp, err := http.Get(f.server.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&srvInfo)
	resp.Body.Close()
	var rep struct{ DB struct{ UpdatedAt time.Time } }
	b, _ := os.ReadFile(sj)
	if err := json.Unmarshal(b, &rep); err != nil || !rep.DB.UpdatedAt.Equal(srvInfo.VulnerabilityDB.UpdatedAt) {
		t.Errorf("secscan-json's DB (%v) is not the server's (%v): %v", rep.DB.UpdatedAt, srvInfo.VulnerabilityDB.UpdatedAt, err)
	}
	// The analysed layer went to the server's cache, in Redis.
	if n := redisKeys(t, f.redis.Addr, "fanal::blob::*"); n != 1 {
		t.Errorf("%d layers in the server's Redis cache, want alpine-39's 1", n)
	}
	// max-db-age applies to the server's DB: a limit it is past blocks with the DB reason.
	pol := filepath.Join(out, "old.yaml")
	os.WriteFile(pol, []byte("version: 1\ngate:\n  block: CRITICAL\n  only-fixed: true\n  max-db-age: 1s\n"), 0o644)
	time.Sleep(1100 * time.Millisecond)
	r2 := f.runner(t, cache, nil, "scan", "--policy", pol, "--exit-code", ref)
	if r2.code != 2 || !strings.Contains(r2.stderr, "max-db-age") {
		t.Errorf("max-db-age should judge the server's DB: %s", r2)
	}

	// db status shows the server's DB.
	st := docker(t, []string{"SECSCAN_TOKEN=" + fleetToken}, "secscan", "db", "status", "--server", f.server.URL)
	if st.code != 0 || !strings.Contains(st.stdout, "Trivy server "+f.server.URL) || !strings.Contains(st.stdout, "Schema:        2") {
		t.Errorf("db status --server: %s", st)
	}
	noSecret(t, fleetToken, []string{r.stdout, r.stderr, r2.stdout, r2.stderr, st.stdout, st.stderr}, out)
}

// stoppingProxy forwards to the Trivy server and stops it once the plugin's checks
// (GET /version, the token check) have gone through: the scan's own requests then find
// the server gone, as when it stops in the middle of a scan.
func stoppingProxy(t *testing.T, f *fleetEnv) string {
	t.Helper()
	target, _ := url.Parse(f.server.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	// The server is gone: the connection drops, as it does when nothing listens (a
	// proxy's 502 would make Trivy's client retry for about 40 s first).
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	var n atomic.Int32
	var once sync.Once
	l, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 2 {
			once.Do(f.server.Stop)
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func testServerAndRedisFailuresPushNothing(t *testing.T) {
	f := startFleet(t)
	ref := env.Registry + "/fleet/fail:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	out := t.TempDir()
	var texts []string
	check := func(name string, r result, want string) {
		t.Helper()
		texts = append(texts, r.stdout, r.stderr)
		if r.code != 1 {
			t.Errorf("%s: want exit 1: %s", name, r)
		}
		checkOneLineError(t, r, want)
		if registryHasTag(t, env.Registry, "fleet/fail", "39") {
			t.Fatalf("%s: the image was pushed", name)
		}
	}
	mode := []string{"--mode", "warn"} // would push if the scan went through

	// A wrong token.
	r := docker(t, []string{"SECSCAN_TOKEN=not-the-token"}, "secscan", "push", "--cache-dir", filepath.Join(out, "c1"), "--server", f.server.URL, mode[0], mode[1], ref)
	check("wrong token", r, "refused the token")
	if strings.Contains(r.stderr, "not-the-token") {
		t.Errorf("the wrong token is printed: %s", r)
	}
	// No token at all says so; a token read from a file ends in a newline: trimmed.
	r = docker(t, nil, "secscan", "push", "--cache-dir", filepath.Join(out, "c1"), "--server", f.server.URL, mode[0], mode[1], ref)
	check("no token", r, "none was given")
	r = docker(t, []string{"SECSCAN_TOKEN=" + fleetToken + "\n"}, "secscan", "scan", "--cache-dir", filepath.Join(out, "c1"), "--no-progress", "--server", f.server.URL, "--exit-code", ref)
	texts = append(texts, r.stdout, r.stderr)
	if r.code != 2 {
		t.Errorf("a token with a trailing newline should be trimmed and the scan blocked (exit 2): %s", r)
	}
	// Redis (the runner's scan cache) stopped, with a password in its URL.
	stoppedRedis := "redis://:hunter2-redis-pw@127.0.0.1:1/0"
	r = f.runner(t, filepath.Join(out, "c2"), nil, "push", "--cache-backend", stoppedRedis, mode[0], mode[1], ref)
	check("redis down", r, "cannot be reached")
	if strings.Contains(r.stderr, "hunter2-redis-pw") || strings.Contains(r.stderr, "pool.go") {
		t.Errorf("the Redis password, or go-redis's own log, is printed: %s", r)
	}
	// ... unless the policy lets the local cache stand in.
	pol := filepath.Join(out, "fallback.yaml")
	os.WriteFile(pol, []byte("version: 1\nscan:\n  cache-fallback: local\n"), 0o644)
	r = f.runner(t, filepath.Join(out, "c3"), nil, "push", "--policy", pol, "--cache-backend", stoppedRedis, ref)
	texts = append(texts, r.stdout, r.stderr)
	if r.code != 2 || !strings.Contains(r.stderr, "scan.cache-fallback: local") || strings.Contains(r.stderr, "hunter2-redis-pw") {
		t.Errorf("with scan.cache-fallback: local the scan goes on with the cache folder (blocked, exit 2): %s", r)
	}
	// The server's own Redis stopped: the server fails the scan.
	f.redis.Stop()
	r = f.runner(t, filepath.Join(out, "c4"), nil, "push", mode[0], mode[1], ref)
	check("server's redis down", r, "Trivy server")
	if err := f.redis.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The server stopped in the middle of the scan.
	proxy := stoppingProxy(t, f)
	r = docker(t, []string{"SECSCAN_TOKEN=" + fleetToken}, "secscan", "push", "--cache-dir", filepath.Join(out, "c5"), "--no-progress", "--server", proxy, mode[0], mode[1], ref)
	check("server stopped mid-scan", r, "Trivy server")
	// And a server that is not there at all.
	r = f.runner(t, filepath.Join(out, "c6"), nil, "push", mode[0], mode[1], ref)
	check("server down", r, "does not answer")
	// ... which on-scan-error: warn lets through, UNSCANNED, as any failed scan.
	warnPol := filepath.Join(out, "warn.yaml")
	os.WriteFile(warnPol, []byte("version: 1\ngate:\n  on-scan-error: warn\n"), 0o644)
	unscanned := env.Registry + "/fleet/unscanned:39"
	mustDocker(t, "tag", ref, unscanned)
	r = f.runner(t, filepath.Join(out, "c7"), nil, "push", "--policy", warnPol, unscanned)
	texts = append(texts, r.stdout, r.stderr)
	if r.code != 0 || !strings.Contains(r.stderr, "UNSCANNED") || !registryHasTag(t, env.Registry, "fleet/unscanned", "39") {
		t.Errorf("on-scan-error: warn with the server down should push UNSCANNED: %s", r)
	}
	noSecret(t, fleetToken, texts, out)
	noSecret(t, "hunter2-redis-pw", texts, out)
}

// testFleetOf12Runners: 12 `docker secscan push` at once, each a runner with its own
// empty cache folder, images sharing one base, through one server and one Redis; then
// a second wave of the same images from 12 new runners. The same 12 runners without the
// server, each with its own DB, are measured for comparison.
func testFleetOf12Runners(t *testing.T) {
	const runners = 12
	// SECSCAN_FLEET_DB_MB=80 pads the DB artifact to about the size of Trivy's real DB
	// (for measuring by hand: the fixture DB is 27 KB).
	db := dbRepo
	if mb, _ := strconv.Atoi(os.Getenv("SECSCAN_FLEET_DB_MB")); mb > 0 {
		db = publishPaddedDB(t, mb)
	}
	f := startFleetWith(t, db)
	base := env.Registry + "/fleet/base:39"
	loadImage(t, "images/alpine-39.tar.gz", base)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+base+"\nARG N\nRUN echo \"app $N\" > /app-id\n"), 0o644)
	refs := make([]string, runners)
	for i := range refs {
		refs[i] = fmt.Sprintf("%s/fleet/app%02d:1", env.Registry, i)
		mustDocker(t, "build", "-q", "--build-arg", fmt.Sprintf("N=%d", i), "-t", refs[i], ctxDir)
	}
	// Odd runners push with --mode warn (gated, reported, pushed), even ones block.
	wave := func(name string, args func(i int, cache string) []string, extraEnv []string) ([]result, []string, time.Duration) {
		res := make([]result, runners)
		caches := make([]string, runners)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := 0; i < runners; i++ {
			caches[i] = filepath.Join(t.TempDir(), "runner")
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				a := args(i, caches[i])
				if i%2 == 1 {
					a = append(a[:2:2], append([]string{"--mode", "warn"}, a[2:]...)...)
				}
				res[i] = docker(t, extraEnv, a...)
			}(i)
		}
		wg.Wait()
		d := time.Since(t0)
		t.Logf("%s: %d runners in %s", name, runners, d.Round(100*time.Millisecond))
		for i, r := range res {
			want := 2
			if i%2 == 1 {
				want = 0
			}
			if r.code != want {
				t.Errorf("%s, runner %d (%s): want exit %d: %s", name, i, refs[i], want, r)
			}
			repo := strings.TrimPrefix(strings.Split(refs[i], ":1")[0], env.Registry+"/")
			if pushed := registryHasTag(t, env.Registry, repo, "1"); pushed != (i%2 == 1) {
				t.Errorf("%s, runner %d: in the registry = %v, want %v", name, i, pushed, i%2 == 1)
			}
			if !strings.Contains(r.stderr, "blocked:") && !strings.Contains(r.stderr, "passed") {
				t.Errorf("%s, runner %d: no verdict: %s", name, i, r)
			}
		}
		return res, caches, d
	}
	serverArgs := func(i int, cache string) []string {
		return []string{"secscan", "push", "--cache-dir", cache, "--no-progress", "--server", f.server.URL, "--cache-backend", f.redis.URL(), "--debug", refs[i]}
	}
	tokenEnv := []string{"SECSCAN_TOKEN=" + fleetToken, "SECSCAN_CACHE_SECRET=" + fleetSecret}
	res, caches, d1 := wave("wave 1 through the server", serverArgs, tokenEnv)
	baseDiff := strings.TrimSpace(mustDocker(t, "image", "inspect", "--format", "{{index .RootFS.Layers 0}}", base).stdout)
	baseAnalyses := 0
	for i, r := range res {
		noLocalDB(t, caches[i], r)
		if !strings.Contains(r.stderr, "Scanning "+refs[i]) {
			t.Errorf("wave 1, runner %d: not scanned: %s", i, r)
		}
		for _, line := range strings.Split(r.stderr, "\n") {
			// The engine's debug line for a layer it analysed itself.
			if strings.Contains(line, "Layer analysed") && strings.Contains(line, `diff_id="`+baseDiff+`"`) {
				baseAnalyses++
			}
		}
	}
	blobs := redisKeys(t, f.redis.Addr, "fanal::blob::*")
	scans := redisKeys(t, f.redis.Addr, "secscan::scan::*")
	if blobs != runners+1 {
		t.Errorf("%d analysed layers in Redis, want %d: the shared base once and each image's own layer", blobs, runners+1)
	}
	if scans != runners {
		t.Errorf("%d scans in Redis, want %d", scans, runners)
	}
	if baseAnalyses != 1 {
		t.Errorf("the shared base layer was analysed by %d runners, want 1 (the others wait for its analysis)", baseAnalyses)
	}
	t.Logf("wave 1: 0 DB downloads on the runners, %d layer entries in Redis (the base %s once), the base layer analysed by %d of %d runners", blobs, baseDiff[:19], baseAnalyses, runners)

	// Wave 2: new runners (new empty cache folders) find every scan in Redis.
	res2, caches2, d2 := wave("wave 2 through the server", serverArgs, tokenEnv)
	for i, r := range res2 {
		noLocalDB(t, caches2[i], r)
		if strings.Contains(r.stderr, "Scanning "+refs[i]) || !strings.Contains(r.stderr, "from the Redis cache") || strings.Contains(r.stderr, "Layer analysed") {
			t.Errorf("wave 2, runner %d: the image was scanned again: %s", i, r)
		}
		if _, err := os.Stat(filepath.Join(caches2[i], "image-configs")); err == nil {
			t.Errorf("wave 2, runner %d: the engine ran (it kept an image record)", i)
		}
	}
	if n := redisKeys(t, f.redis.Addr, "fanal::blob::*"); n != blobs {
		t.Errorf("wave 2 changed the layer entries: %d, was %d", n, blobs)
	}
	noSecret(t, fleetToken, collect(res, res2), caches...)
	noSecret(t, fleetSecret, collect(res, res2), caches...)

	// The same 12 runners without the server: each downloads and opens its own DB.
	for i := 1; i < runners; i += 2 {
		repo := strings.TrimPrefix(strings.Split(refs[i], ":1")[0], env.Registry+"/")
		deleteTag(t, repo)
	}
	local := func(i int, cache string) []string {
		return []string{"secscan", "push", "--cache-dir", cache, "--no-progress", "--db-repository", db, "--debug", refs[i]}
	}
	res3, caches3, d3 := wave("without the server", local, nil)
	dbBytes := int64(0)
	localAnalyses := 0
	for i := range res3 {
		localAnalyses += strings.Count(res3[i].stderr, "\tLayer analysed\t")
		if st, err := os.Stat(filepath.Join(caches3[i], "db", "trivy.db")); err == nil {
			dbBytes += st.Size()
		} else {
			t.Errorf("without the server, runner %d has no DB: %s", i, res3[i])
		}
	}
	art := dbArtifactSize(t, db)
	serverAnalyses := 0
	for _, r := range res {
		serverAnalyses += strings.Count(r.stderr, "\tLayer analysed\t")
	}
	t.Logf("FLEET FIGURES (%s, %d runners): through the server: wave 1 %s (%d layer analyses), wave 2 %s (0), DB bytes downloaded by runners 0 (the server: 1 x %d); without the server: %s (%d layer analyses), DB downloaded %d times (%d bytes, trivy.db %d bytes on each runner)",
		env.Engine, runners, d1.Round(100*time.Millisecond), serverAnalyses, d2.Round(100*time.Millisecond), art, d3.Round(100*time.Millisecond), localAnalyses, runners, int64(runners)*art, dbBytes/runners)
}

func collect(rs ...[]result) []string {
	var out []string
	for _, r := range rs {
		for _, x := range r {
			out = append(out, x.stdout, x.stderr)
		}
	}
	return out
}

// deleteTag removes repo:1 from the engine's registry (delete is enabled).
func deleteTag(t *testing.T, repo string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/1", env.Registry, repo), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	req, _ = http.NewRequest(http.MethodDelete, fmt.Sprintf("http://%s/v2/%s/manifests/%s", env.Registry, repo, d), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete %s@%s: %s", repo, d, resp.Status)
	}
}

// dbArtifactSize is the size of the fixture DB's layer (what one download fetches).
func dbArtifactSize(t *testing.T, db string) int64 {
	t.Helper()
	repo := strings.TrimPrefix(db, env.Registry+"/")
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/2", env.Registry, repo), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ Layers []struct{ Size int64 } }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("DB manifest: %v", err)
	}
	return m.Layers[0].Size
}

func newLoopbackListener() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// testRedisCacheWithoutServer: --cache-backend redis:// alone (every runner keeps its own
// DB): the analysed layers and the scans are in Redis, so a second runner with the same
// DB and no layers or scans of its own neither exports nor scans the image; entries that
// do not parse are scanned again, never trusted.
func testRedisCacheWithoutServer(t *testing.T) {
	needTestdata(t)
	rd, err := testenv.StartRedis(ctxT(t), filepath.Join(t.TempDir(), "redis"), func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Stop)
	ref := env.Registry + "/fleet/redis:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	out := t.TempDir()
	backend := "redis://:redis-pw-9d1e@" + rd.Addr // Redis ignores a password it was not given... but it must not show
	runEnv := secretEnv
	run := func(name string) (result, string) {
		cache := filepath.Join(out, name)
		// Without a server each runner has its own DB, and a scan is shared between
		// runners that have the same DB: this one gets it first.
		if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo); r.code != 0 {
			t.Fatalf("%s: db update: %s", name, r)
		}
		report := filepath.Join(out, name+".json")
		r := docker(t, runEnv, "secscan", "push", "--cache-dir", cache, "--no-progress", "--db-repository", dbRepo,
			"--cache-backend", backend, "--cache-ttl", "1h", "-f", "json", "-o", report, ref)
		if r.code != 2 {
			t.Fatalf("%s: want exit 2 (blocked): %s", name, r)
		}
		if got, want := trivyFindings(t, report), goldenFindings(t, "alpine-39.json.golden"); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: findings differ from Trivy's golden:\n got %v\nwant %v", name, got, want)
		}
		if registryHasTag(t, env.Registry, "fleet/redis", "39") {
			t.Fatalf("%s: the blocked image was pushed", name)
		}
		return r, cache
	}
	r1, c1 := run("runner1")
	if !strings.Contains(r1.stderr, "Scanning ") {
		t.Fatalf("runner 1 did not scan: %s", r1)
	}
	if _, err := os.Stat(filepath.Join(c1, "fanal")); err == nil {
		t.Errorf("runner 1 kept its layers in its cache folder, not in Redis")
	}
	if n := redisKeys(t, rd.Addr, "fanal::blob::*"); n != 1 {
		t.Errorf("%d layers in Redis, want 1", n)
	}
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rc.Close()
	keys, _ := rc.Keys(context.Background(), "secscan::scan::*").Result()
	if len(keys) != 1 {
		t.Fatalf("%d scans in Redis, want 1", len(keys))
	}
	if ttl, _ := rc.TTL(context.Background(), keys[0]).Result(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("the scan's TTL in Redis is %s, want --cache-ttl 1h", ttl)
	}
	r2, c2 := run("runner2")
	if strings.Contains(r2.stderr, "Scanning ") || !strings.Contains(r2.stderr, "from the Redis cache") {
		t.Errorf("runner 2 scanned the image again: %s", r2)
	}
	if _, err := os.Stat(filepath.Join(c2, "image-configs")); err == nil {
		t.Errorf("runner 2 started the engine")
	}
	// Damaged entries: cut, garbage, a scan of another image, and the trial's attack:
	// the scan rewritten with no findings (its signature kept), as whoever can write to
	// Redis could. None is used: the image is scanned, and blocked (run checks exit 2).
	good := rc.Get(context.Background(), keys[0]).Val()
	if strings.Contains(good, fleetSecret) {
		t.Fatal("the secret is in the Redis entry")
	}
	other := strings.Replace(good, imageID(t, ref), "sha256:"+strings.Repeat("0", 64), -1)
	var entry map[string]json.RawMessage
	if err := json.Unmarshal([]byte(good), &entry); err != nil || entry["mac"] == nil {
		t.Fatalf("the scan in Redis is not signed: %.200s (%v)", good, err)
	}
	var scan map[string]map[string]any
	json.Unmarshal(entry["scan"], &scan)
	scan["scan"]["findings"] = []any{}
	entry["scan"], _ = json.Marshal(scan)
	forged, _ := json.Marshal(entry)
	for i, bad := range []string{good[:200], "not json", other, string(forged)} {
		rc.Set(context.Background(), keys[0], bad, 0)
		r, _ := run(fmt.Sprintf("damaged%d", i))
		if !strings.Contains(r.stderr, "Scanning ") || strings.Contains(r.stderr, "from the Redis cache") {
			t.Errorf("damaged entry %d was trusted: %s", i, r)
		}
		if i == 3 && !strings.Contains(r.stderr, "is not signed with $SECSCAN_CACHE_SECRET") {
			t.Errorf("a forged entry is not reported: %s", r)
		}
	}
	// A runner with another secret, or none, does not use the signed scan.
	rc.Set(context.Background(), keys[0], good, 0)
	runEnv = []string{"SECSCAN_CACHE_SECRET=another-secret-0f9e8d7c"}
	if r, _ := run("other-secret"); !strings.Contains(r.stderr, "Scanning ") {
		t.Errorf("a scan signed with another secret was used: %s", r)
	}
	rc.Set(context.Background(), keys[0], good, 0)
	runEnv = nil
	r3, _ := run("no-secret")
	if !strings.Contains(r3.stderr, "Scanning ") || !strings.Contains(r3.stderr, "the scans in the Redis cache are not shared: $SECSCAN_CACHE_SECRET is not set") {
		t.Errorf("without a secret the scan in Redis was used, or no note says why not: %s", r3)
	}
	noSecret(t, "redis-pw-9d1e", []string{r1.stdout, r1.stderr, r2.stdout, r2.stderr}, out)
	noSecret(t, fleetSecret, []string{r1.stdout, r1.stderr, r2.stdout, r2.stderr}, out)
}

// TestDBMirror: db mirror copies the DB artifact, unchanged, into another repository;
// a runner then downloads the DB from the mirror and db status names it.
func TestDBMirror(t *testing.T) {
	needTestdata(t)
	mirror := env.Registry + "/mirror/trivy-db"
	r := docker(t, nil, "secscan", "db", "mirror", "--db-repository", env.Registry+"/nothing-here", "--db-repository", dbRepo, mirror)
	if r.code != 0 || !strings.Contains(r.stdout, "Mirrored the vulnerability DB "+dbRepo+":2") {
		t.Fatalf("db mirror: %s", r)
	}
	if a, b := regManifestDigest(t, strings.TrimPrefix(dbRepo, env.Registry+"/"), "2"), regManifestDigest(t, "mirror/trivy-db", "2"); a == "" || a != b {
		t.Fatalf("the mirror's manifest %s differs from the source's %s", b, a)
	}
	cache := t.TempDir()
	if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", mirror); r.code != 0 {
		t.Fatalf("db update from the mirror: %s", r)
	}
	st := docker(t, nil, "secscan", "db", "status", "--cache-dir", cache)
	if !strings.Contains(st.stdout, "Source:        "+mirror+":2") {
		t.Errorf("db status does not name the mirror: %s", st)
	}
	// No source holds the DB; a bad DEST.
	r = docker(t, nil, "secscan", "db", "mirror", "--db-repository", env.Registry+"/nothing-here", mirror+"-2")
	if r.code != 1 {
		t.Fatalf("db mirror from an empty repository: want exit 1: %s", r)
	}
	checkOneLineError(t, r, "no DB to mirror")
	r = docker(t, nil, "secscan", "db", "mirror", "--java-db", "--java-db-repository", dbRepo+":2", mirror+"-java")
	if r.code != 1 {
		t.Fatalf("db mirror --java-db of a DB that is not the Java DB: want exit 1: %s", r)
	}
	checkOneLineError(t, r, "not Trivy's DB artifact")
	r = docker(t, nil, "secscan", "db", "mirror", "--db-repository", dbRepo, "https://user:pw-77@"+mirror)
	if r.code != 1 || strings.Contains(r.stderr, "pw-77") {
		t.Fatalf("db mirror to a URL: want exit 1 without the password: %s", r)
	}
	checkOneLineError(t, r, "not an OCI reference")
	r = docker(t, nil, "secscan", "db", "mirror", "--db-repository", dbRepo, mirror+"@sha256:"+strings.Repeat("a", 64))
	if r.code != 1 {
		t.Fatalf("db mirror to a digest: want exit 1: %s", r)
	}
	checkOneLineError(t, r, "names a digest")
}

// regManifestDigest is the digest the registry gives for repo:tag.
func regManifestDigest(t *testing.T, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", env.Registry, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Docker-Content-Digest")
}

// publishPaddedDB publishes the fixture DB with mb MiB of random bytes beside it in the
// artifact (as big as Trivy's real DB, for measuring downloads) and returns its repository.
func publishPaddedDB(t *testing.T, mb int) string {
	t.Helper()
	dir := t.TempDir()
	fixtures, _ := filepath.Glob(filepath.Join(testdata, "trivy-db-fixtures", "*.yaml"))
	now := time.Now()
	if err := testenv.BuildDB(dir, fixtures, now, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	pad := make([]byte, mb<<20)
	rand.Read(pad)
	if err := os.WriteFile(filepath.Join(dir, "padding.bin"), pad, 0o644); err != nil {
		t.Fatal(err)
	}
	layer, err := testenv.DBArchive(dir, "trivy.db", "metadata.json", "padding.bin")
	if err != nil {
		t.Fatal(err)
	}
	repo := env.Registry + "/trivy-db-padded"
	if err := testenv.PushDBArtifact(ctxT(t), repo+":2", layer); err != nil {
		t.Fatal(err)
	}
	return repo
}

// testRedisOverTLS: rediss:// with --redis-ca, --redis-cert and --redis-key (Trivy's
// flags): the engine's layer cache (Trivy's Redis backend) and the plugin's scans both
// go over TLS with the client certificate; without it the backend is an error.
func testRedisOverTLS(t *testing.T) {
	needTestdata(t)
	rd, err := testenv.StartRedisTLS(ctxT(t), filepath.Join(t.TempDir(), "redis"), func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Stop)
	ref := env.Registry + "/fleet/tls:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	out := t.TempDir()
	tlsArgs := []string{"--cache-backend", rd.URL(), "--redis-ca", rd.TLS.CA, "--redis-cert", rd.TLS.ClientCert, "--redis-key", rd.TLS.ClientKey}
	push := func(name string, extra ...string) result {
		cache := filepath.Join(out, name)
		if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo); r.code != 0 {
			t.Fatalf("%s: db update: %s", name, r)
		}
		return docker(t, secretEnv, append([]string{"secscan", "push", "--cache-dir", cache, "--no-progress", "--db-repository", dbRepo}, append(extra, ref)...)...)
	}
	r := push("runner1", tlsArgs...)
	if r.code != 2 || !strings.Contains(r.stderr, "Scanning "+ref) {
		t.Fatalf("push over TLS Redis: want exit 2 after a scan: %s", r)
	}
	cert, err := tls.LoadX509KeyPair(rd.TLS.ClientCert, rd.TLS.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(rd.TLS.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr, TLSConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"}})
	defer rc.Close()
	for pattern, want := range map[string]int{"fanal::blob::*": 1, "secscan::scan::*": 1} {
		if keys, err := rc.Keys(context.Background(), pattern).Result(); err != nil || len(keys) != want {
			t.Errorf("%s over TLS: %d keys (%v), want %d", pattern, len(keys), err, want)
		}
	}
	if r := push("runner2", tlsArgs...); r.code != 2 || !strings.Contains(r.stderr, "from the Redis cache") {
		t.Errorf("a second runner over TLS should take the scan from Redis: %s", r)
	}
	// Without the client certificate the server refuses the connection.
	r = push("nocert", "--cache-backend", rd.URL())
	if r.code != 1 {
		t.Fatalf("rediss:// without the client certificate: want exit 1: %s", r)
	}
	checkOneLineError(t, r, "cannot be reached")
	if r := push("half", "--cache-backend", rd.URL(), "--redis-ca", rd.TLS.CA); r.code != 1 || !strings.Contains(r.stderr, "go together") {
		t.Errorf("--redis-ca alone: want a one-line error: %s", r)
	}
}

// testServerGatesBestPracticesAndUncheckedReleases (trial findings): through a server
// the image config's best-practice checks run and gate as on one machine (Trivy's cache
// RPC drops them: the runner analyses the config itself), also for a runner that uses
// the server's Redis as its own cache afterwards; a release the server's DB has no data
// for is not checked, said so, and blocked by gate.on-unsupported-os, while a release it
// covers passes.
func testServerGatesBestPracticesAndUncheckedReleases(t *testing.T) {
	f := startFleet(t)
	out := t.TempDir()
	bp := writeFile(t, out, "bp.yaml", "version: 1\ngate:\n  best-practices: block\n")
	ref := env.Registry + "/fleet/bp:3.10"
	loadImage(t, "images/alpine-3.10.4.tar.gz", ref)

	// On one machine: CIS-DI-0001 blocks.
	local := docker(t, nil, "secscan", "push", "--cache-dir", filepath.Join(out, "local"), "--no-progress", "--db-repository", dbRepo, "--policy", bp, ref)
	if local.code != 2 || !strings.Contains(local.stdout+local.stderr, "CIS-DI-0001") {
		t.Fatalf("without the server, best-practices: block should block alpine 3.10 on CIS-DI-0001: %s", local)
	}
	// Through the server: the same.
	r := f.runner(t, filepath.Join(out, "srv"), nil, "push", "--policy", bp, ref)
	if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "CIS-DI-0001") || strings.Contains(r.stderr, "could not run") {
		t.Fatalf("through the server, best-practices: block should block on CIS-DI-0001: %s", r)
	}
	// A runner with the server's Redis as its own layer cache, and no server: the same.
	rc := filepath.Join(out, "redis-runner")
	if u := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", rc, "--db-repository", dbRepo); u.code != 0 {
		t.Fatalf("db update: %s", u)
	}
	r2 := docker(t, secretEnv, "secscan", "push", "--cache-dir", rc, "--no-progress", "--db-repository", dbRepo, "--cache-backend", f.redis.URL(), "--policy", bp, ref)
	if r2.code != 2 || !strings.Contains(r2.stdout+r2.stderr, "CIS-DI-0001") {
		t.Fatalf("after a server scan, a runner on the same Redis should block on CIS-DI-0001: %s", r2)
	}
	if registryHasTag(t, env.Registry, "fleet/bp", "3.10") {
		t.Fatal("a blocked image was pushed")
	}
	// Alpine 3.10 is covered by the server's DB: the default policy pushes it.
	if r := f.runner(t, filepath.Join(out, "srv"), nil, "push", ref); r.code != 0 || strings.Contains(r.stderr, "not checked") {
		t.Errorf("alpine 3.10 through the server should pass (covered release): %s", r)
	}

	// Alpine 3.11: no data in the server's DB.
	ref311 := env.Registry + "/fleet/rel:3.11"
	loadImage(t, "images/alpine-3.11.5.tar.gz", ref311)
	r = f.runner(t, filepath.Join(out, "srv311"), nil, "push", ref311)
	if r.code != 2 || !strings.Contains(r.stderr, "not checked") || !strings.Contains(r.stderr, "on the Trivy server") || !strings.Contains(r.stderr, "gate.on-unsupported-os") {
		t.Fatalf("alpine 3.11 through the server should be blocked as not checked: %s", r)
	}
	if registryHasTag(t, env.Registry, "fleet/rel", "3.11") {
		t.Fatal("an image whose OS packages were not checked was pushed")
	}
	// The same from the scan cache (Redis) on a new runner.
	if r := f.runner(t, filepath.Join(out, "srv311b"), []string{}, "push", "--cache-backend", f.redis.URL(), ref311); r.code != 2 || !strings.Contains(r.stderr, "not checked") {
		t.Errorf("alpine 3.11 from a cached server scan should be blocked too: %s", r)
	}
	warn := writeFile(t, out, "warn.yaml", "version: 1\ngate:\n  on-unsupported-os: warn\n")
	if r := f.runner(t, filepath.Join(out, "srv311"), nil, "push", "--policy", warn, ref311); r.code != 0 || !strings.Contains(r.stderr, "NOT checked") {
		t.Errorf("on-unsupported-os: warn should push with the note: %s", r)
	}
}

// testServerThatHangsTimesOut: a server that stops answering in the middle of a scan
// (SIGSTOP, a frozen host) fails the scan after --timeout, naming the server and the flag.
func testServerThatHangsTimesOut(t *testing.T) {
	f := startFleet(t)
	ref := env.Registry + "/fleet/hang:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	target, _ := url.Parse(f.server.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var n atomic.Int32
	l, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 2 { // the plugin's checks go through; the scan's requests hang
			<-hang
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t0 := time.Now()
	r := docker(t, []string{"SECSCAN_TOKEN=" + fleetToken}, "secscan", "push", "--cache-dir", filepath.Join(t.TempDir(), "c"), "--no-progress",
		"--server", "http://"+l.Addr().String(), "--timeout", "3s", "--mode", "warn", ref)
	if r.code != 1 {
		t.Fatalf("a hung server: want exit 1: %s", r)
	}
	checkOneLineError(t, r, "did not answer within 3s (--timeout)")
	if d := time.Since(t0); d > 60*time.Second {
		t.Errorf("the runner waited %s on a hung server with --timeout 3s", d)
	}
	if registryHasTag(t, env.Registry, "fleet/hang", "39") {
		t.Fatal("pushed")
	}
}
