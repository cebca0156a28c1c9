//go:build linux

package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
	"github.com/docker-secscan/docker-secscan/internal/version"
)

// The warm engine's tests run the test binary itself as the engine: TestMain turns it
// into a fake engine (no Trivy) when it is started as one. Its scan reads the whole
// archive and answers with the archive's digest, its pid and how it ran (warm or
// one-shot), so that a test sees which engine scanned what.

const fakeEnv = "SECSCAN_FAKE_ENGINE" // set: this process is a fake engine

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" && len(os.Args) > 1 {
		os.Exit(fakeEngineMain())
	}
	os.Exit(m.Run())
}

type fakeAnswer struct {
	Digest string `json:"digest"`
	PID    int    `json:"pid"`
	Mode   string `json:"mode"`
}

func fakeEngineMain() int {
	if v := os.Getenv("FAKE_VERSION"); v != "" {
		version.Version = v
	}
	if os.Args[1] == "silent" {
		old := syscall.Umask(0o077)
		ln, err := net.Listen("unix", os.Args[2])
		syscall.Umask(old)
		if err != nil {
			return 1
		}
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			held = append(held, c)
		}
	}
	if os.Args[1] == CmdServe {
		var socket, id string
		idle := DefaultIdle
		for i := 2; i+1 < len(os.Args); i += 2 {
			switch os.Args[i] {
			case "--socket":
				socket = os.Args[i+1]
			case "--id":
				id = os.Args[i+1]
			case "--idle":
				idle, _ = time.ParseDuration(os.Args[i+1])
			}
		}
		if os.Getenv("FAKE_NO_SERVE") == "1" {
			return 3
		}
		err := Serve(context.Background(), ServeOptions{Socket: socket, ID: id, Idle: idle, Log: os.Stderr,
			Handler: func(ctx context.Context, c *WarmCall) int {
				return fakeHandle(ctx, c.Command, c.Request, c.Stdout, c.Stderr, c.Archive, "warm")
			}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	in, _ := io.ReadAll(os.Stdin)
	return fakeHandle(context.Background(), os.Args[1], in, os.Stdout, os.Stderr, os.NewFile(3, "archive"), "oneshot")
}

func fakeHandle(ctx context.Context, command string, in []byte, stdout io.Writer, stderr *os.File, archive *os.File, mode string) int {
	var req ScanRequest
	if command != CmdScan || json.Unmarshal(in, &req) != nil {
		json.NewEncoder(stdout).Encode(ErrorResponse{Error: "fake: bad request"})
		return 1
	}
	fmt.Fprintf(stderr, "fake engine %d scanning %s\n", os.Getpid(), req.Image.ID)
	json.NewEncoder(stdout).Encode(ScanReady{NeedImage: true})
	if d, _ := time.ParseDuration(os.Getenv("FAKE_READ_DELAY")); d > 0 {
		time.Sleep(d) // the client blocks on a full pipe meanwhile
	}
	h := sha256.New()
	if _, err := io.Copy(h, archive); err != nil {
		json.NewEncoder(stdout).Encode(ErrorResponse{Error: "fake: " + err.Error()})
		return 1
	}
	if os.Getenv("FAKE_CRASH") == "1" {
		os.Exit(9)
	}
	if d, _ := time.ParseDuration(os.Getenv("FAKE_SLEEP")); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			json.NewEncoder(stdout).Encode(ErrorResponse{Error: "fake: cancelled"})
			return 1
		}
	}
	tr, _ := json.Marshal(fakeAnswer{Digest: hex.EncodeToString(h.Sum(nil)), PID: os.Getpid(), Mode: mode})
	json.NewEncoder(stdout).Encode(ScanResponse{Scan: report.Scan{Image: report.Image{ID: req.Image.ID}, Scanner: "fake", FinishedAt: time.Now()}, Trivy: tr})
	return 0
}

// fakeClient is a client whose engine is a copy of the test binary in its own folder
// (so that a test may replace it), with a short idle time.
func fakeClient(t *testing.T, idle time.Duration) (*Client, *bytes.Buffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "secscan-engine")
	copyFile(t, self, bin)
	t.Setenv(fakeEnv, "1")
	var stderr bytes.Buffer
	return &Client{Path: bin, Stderr: &syncBuffer{b: &stderr}, Idle: idle}, &stderr
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// cacheDir is a short cache folder (a unix socket path is at most 107 bytes), whose
// engine is stopped at the end of the test.
func cacheDir(t *testing.T, c *Client) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "warm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if st, running, _ := c.EngineStatusOf(context.Background(), dir); running {
			syscall.Kill(st.PID, syscall.SIGKILL)
		}
		os.RemoveAll(dir)
	})
	return dir
}

func fakeScan(t *testing.T, c *Client, dir, id, content string) (fakeAnswer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := ScanRequest{DB: DBOptions{CacheDir: dir}, Image: Image{ID: id}}
	res, err := c.Scan(ctx, req, func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(content)), nil
	})
	if err != nil {
		return fakeAnswer{}, err
	}
	var a fakeAnswer
	if err := json.Unmarshal(res.trivy, &a); err != nil {
		t.Fatalf("answer %s: %v", res.trivy, err)
	}
	if want := sha256.Sum256([]byte(content)); a.Digest != hex.EncodeToString(want[:]) {
		t.Fatalf("the engine scanned another archive: digest %s", a.Digest)
	}
	return a, nil
}

func mustFakeScan(t *testing.T, c *Client, dir, id, content string) fakeAnswer {
	t.Helper()
	a, err := fakeScan(t, c, dir, id, content)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !isZombie(pid) }

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("engine %d still runs after %s", pid, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWarmEngineServesLaterScans(t *testing.T) {
	c, stderr := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	a := mustFakeScan(t, c, dir, "sha256:aaa", "first image")
	if a.Mode != "warm" {
		t.Fatalf("the first scan ran %s, want warm", a.Mode)
	}
	st, err := os.Lstat(filepath.Join(dir, SocketName))
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v %v", st, err)
	}
	b := mustFakeScan(t, c, dir, "sha256:bbb", "second image")
	if b.PID != a.PID || b.Mode != "warm" {
		t.Fatalf("the second scan ran in %d (%s), want the warm engine %d", b.PID, b.Mode, a.PID)
	}
	if !strings.Contains(stderr.String(), "fake engine") || !strings.Contains(stderr.String(), "sha256:bbb") {
		t.Fatalf("the engine's stderr did not reach the client's: %q", stderr.String())
	}
	status, running, err := c.EngineStatusOf(context.Background(), dir)
	if err != nil || !running || status.PID != a.PID || status.Requests != 2 || status.Stale != "" || status.RSS <= 0 {
		t.Fatalf("status: %+v running=%v err=%v", status, running, err)
	}
	pid, running, err := c.StopEngine(context.Background(), dir)
	if err != nil || !running || pid != a.PID {
		t.Fatalf("stop: %d %v %v", pid, running, err)
	}
	waitGone(t, a.PID, time.Second)
	if _, err := os.Lstat(filepath.Join(dir, SocketName)); err == nil {
		t.Fatal("the stopped engine left its socket")
	}
	if _, running, _ := c.EngineStatusOf(context.Background(), dir); running {
		t.Fatal("status after stop says running")
	}
}

func TestWarmEngineVersionHandshake(t *testing.T) {
	c, stderr := fakeClient(t, time.Minute)
	c.Debug = true // says why an engine is replaced
	dir := cacheDir(t, c)
	old := mustFakeScan(t, c, dir, "sha256:aaa", "x")

	// A new plugin version: the old engine refuses and stops, a new one scans.
	defer func(v string) { version.Version = v }(version.Version)
	version.Version = "v9.9.9-test"
	t.Setenv("FAKE_VERSION", "v9.9.9-test")
	nw := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	if nw.PID == old.PID || nw.Mode != "warm" {
		t.Fatalf("a new plugin version was served by the old engine %d", old.PID)
	}
	waitGone(t, old.PID, 2*time.Second)
	if !strings.Contains(stderr.String(), "the running scan engine has version dev, the client is v9.9.9-test") {
		t.Fatalf("the replacement did not name the versions: %q", stderr.String())
	}

	// A reinstalled engine binary (same version): replaced too.
	time.Sleep(10 * time.Millisecond)
	copyFile(t, c.Path, c.Path)
	again := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	if again.PID == nw.PID {
		t.Fatalf("a reinstalled engine binary was served by the old engine %d", nw.PID)
	}
	waitGone(t, nw.PID, 2*time.Second)
	if !strings.Contains(stderr.String(), "another engine binary") {
		t.Fatalf("the replacement did not name the binary: %q", stderr.String())
	}

	// Another environment Trivy reads (a proxy, Trivy's settings): replaced.
	t.Setenv("TRIVY_INSECURE", "true")
	env := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	if env.PID == again.PID || !strings.Contains(stderr.String(), "another environment") {
		t.Fatalf("a client with another environment was served by the old engine: %q", stderr.String())
	}
	// An engine that does not speak the protocol of this plugin: one line, no hang.
	var out bytes.Buffer
	conn, err := dialEngine(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	in, _ := json.Marshal(warmRequest{Protocol: WarmProtocol + 1, Command: CmdScan})
	conn.Write([]byte{0})
	conn.Write(append(in, '\n'))
	_, err = (&Client{}).warmRoundRaw(conn, &out)
	if err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("another protocol: %v", err)
	}
}

// warmRoundRaw reads the hello of a request sent by hand.
func (c *Client) warmRoundRaw(conn io.Reader, out *bytes.Buffer) (warmHello, error) {
	br := bufio.NewReader(conn)
	typ, p, err := readFrame(br)
	if err != nil || typ != frameHello {
		return warmHello{}, fmt.Errorf("no hello: %v", err)
	}
	var h warmHello
	json.Unmarshal(p, &h)
	if !h.OK {
		return h, mismatchError{h.Reason}
	}
	return h, nil
}

func TestWarmEngineConcurrentScansQueued(t *testing.T) {
	c, stderr := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	t.Setenv("FAKE_SLEEP", "400ms")
	// Three scans at once, none running: one engine is started (the others wait for
	// it), and it serves them one at a time.
	const n = 3
	var wg sync.WaitGroup
	answers := make([]fakeAnswer, n)
	errs := make([]error, n)
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = fakeScan(t, c, dir, fmt.Sprintf("sha256:%03d", i+1), fmt.Sprintf("image number %d", i+1))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("scan %d: %v", i, errs[i])
		}
		if answers[i].PID != answers[0].PID || answers[i].Mode != "warm" {
			t.Fatalf("concurrent scans ran in several engines: %+v", answers)
		}
	}
	// Served one at a time: at least n sleeps.
	if d := time.Since(t0); d < n*400*time.Millisecond {
		t.Fatalf("%d scans of 400 ms took %s: not one at a time", n, d)
	}
	if !strings.Contains(stderr.String(), "Waiting for another scan") {
		t.Fatalf("a queued scan did not say it waits: %q", stderr.String())
	}
}

func TestWarmEngineKilledWhileIdleIsRestarted(t *testing.T) {
	c, stderr := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	syscall.Kill(a.PID, syscall.SIGKILL)
	waitGone(t, a.PID, 2*time.Second)
	b := mustFakeScan(t, c, dir, "sha256:bbb", "y")
	if b.PID == a.PID || b.Mode != "warm" {
		t.Fatalf("after kill -9: %+v", b)
	}
	if strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("a dead idle engine is replaced silently: %q", stderr.String())
	}
}

func TestWarmEngineKilledMidScanIsRestartedOnce(t *testing.T) {
	c, stderr := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	t.Setenv("FAKE_SLEEP", "1s")
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	done := make(chan struct{})
	var b fakeAnswer
	var err error
	go func() {
		defer close(done)
		b, err = fakeScan(t, c, dir, "sha256:bbb", "the image scanned when the engine is killed")
	}()
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(a.PID, syscall.SIGKILL)
	<-done
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, EngineLogName))
		t.Fatalf("killed %d: %v\n%s\n%s", a.PID, err, stderr, log)
	}
	if b.PID == a.PID {
		t.Fatal("answer from the killed engine")
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("The scan engine (pid %d) stopped before it answered: starting it again", a.PID)) {
		t.Fatalf("stderr: %q", stderr.String())
	}
}

func TestWarmEngineKilledWhileReadingTheExport(t *testing.T) {
	c, stderr := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	t.Setenv("FAKE_READ_DELAY", "1s")
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	big := strings.Repeat("layer data ", 1<<20) // 11 MiB: more than the pipe holds
	done := make(chan error, 1)
	go func() {
		_, err := fakeScan(t, c, dir, "sha256:bbb", big)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(a.PID, syscall.SIGKILL)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the scan waits for an engine killed while the export was written: %q", stderr.String())
	}
}

func TestWarmEngineThatKeepsDyingFailsClosed(t *testing.T) {
	c, _ := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	t.Setenv("FAKE_CRASH", "1")
	t0 := time.Now()
	_, err := fakeScan(t, c, dir, "sha256:aaa", "x")
	if err == nil || !strings.Contains(err.Error(), "twice") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("an engine that dies on every scan: %v", err)
	}
	if time.Since(t0) > 10*time.Second {
		t.Fatalf("took %s", time.Since(t0))
	}
}

func TestWarmEngineThatHangsIsKilledAndReplaced(t *testing.T) {
	c, _ := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	defer func(d time.Duration) { warmHelloTimeout = d }(warmHelloTimeout)
	warmHelloTimeout = 2 * time.Second
	// An engine that accepts connections and never answers, not even its hello.
	sock := filepath.Join(dir, SocketName)
	hung := exec.Command(c.Path, "silent", sock)
	if err := hung.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { hung.Wait(); close(exited) }()
	for !dialEngineOK(sock) {
		time.Sleep(10 * time.Millisecond)
	}
	t0 := time.Now()
	a, err := fakeScan(t, c, dir, "sha256:aaa", "x")
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != "warm" || a.PID == hung.Process.Pid || time.Since(t0) > 8*time.Second {
		t.Fatalf("after a silent engine: %+v in %s", a, time.Since(t0))
	}
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
		hung.Process.Kill()
		t.Fatal("the silent engine was not killed")
	}
}

func dialEngineOK(sock string) bool {
	c, err := dialEngine(sock)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func TestWarmEngineIdleExit(t *testing.T) {
	c, _ := fakeClient(t, 700*time.Millisecond)
	dir := cacheDir(t, c)
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	if !alive(a.PID) {
		t.Fatal("the engine exited right after its scan")
	}
	waitGone(t, a.PID, 3*time.Second)
	if _, err := os.Lstat(filepath.Join(dir, SocketName)); err == nil {
		t.Fatal("the idle engine left its socket")
	}
	// Removing its socket (the cache folder) stops an engine too.
	c.Idle = time.Hour
	b := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	os.Remove(filepath.Join(dir, SocketName))
	waitGone(t, b.PID, 3*time.Second)
}

func TestWarmEngineOffIsOneShot(t *testing.T) {
	c, _ := fakeClient(t, 0)
	dir := cacheDir(t, c)
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	if a.Mode != "oneshot" {
		t.Fatalf("idle 0 ran %s", a.Mode)
	}
	if _, err := os.Lstat(filepath.Join(dir, SocketName)); err == nil {
		t.Fatal("idle 0 started a warm engine")
	}
}

func TestWarmEngineFallsBackToOneShot(t *testing.T) {
	t.Run("socket path too long", func(t *testing.T) {
		c, stderr := fakeClient(t, time.Minute)
		c.Debug = true
		dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
		a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
		if a.Mode != "oneshot" || !strings.Contains(stderr.String(), "too long") {
			t.Fatalf("%+v %q", a, stderr.String())
		}
	})
	t.Run("read-only cache folder", func(t *testing.T) {
		c, stderr := fakeClient(t, time.Minute)
		dir := cacheDir(t, c)
		if os.Geteuid() == 0 {
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a read-only folder: %v %s", err, out)
			}
			defer exec.Command("umount", dir).Run()
		} else {
			os.Chmod(dir, 0o500)
			defer os.Chmod(dir, 0o700)
		}
		a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
		if a.Mode != "oneshot" || stderr.Len() != len(fmt.Sprintf("fake engine %d scanning sha256:aaa\n", a.PID)) {
			t.Fatalf("%+v: without --debug the fallback is silent: %q", a, stderr.String())
		}
	})
	t.Run("another user's socket", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to make a socket of another user")
		}
		c, _ := fakeClient(t, time.Minute)
		dir := cacheDir(t, c)
		a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
		sock := filepath.Join(dir, SocketName)
		os.Chown(sock, 65534, 65534)
		b := mustFakeScan(t, c, dir, "sha256:aaa", "x")
		if b.Mode != "oneshot" {
			t.Fatalf("talked to a socket of another user: %+v", b)
		}
		os.Chown(sock, 0, 0)
		os.Chmod(sock, 0o666)
		if b := mustFakeScan(t, c, dir, "sha256:aaa", "x"); b.Mode != "oneshot" {
			t.Fatalf("talked to a socket other users may use: %+v", b)
		}
		syscall.Kill(a.PID, syscall.SIGKILL)
	})
	t.Run("an engine that cannot serve", func(t *testing.T) {
		c, _ := fakeClient(t, time.Minute)
		dir := cacheDir(t, c)
		t.Setenv("FAKE_NO_SERVE", "1")
		if a := mustFakeScan(t, c, dir, "sha256:aaa", "x"); a.Mode != "oneshot" {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("a fleet scan", func(t *testing.T) {
		c, _ := fakeClient(t, time.Minute)
		dir := cacheDir(t, c)
		ok, err := c.warmScan(context.Background(), ScanRequest{DB: DBOptions{CacheDir: dir}, Server: &ServerOptions{URL: "http://x"}}, nil, nil, nil)
		if ok || err != nil {
			t.Fatal("a scan through a Trivy server went to the warm engine")
		}
	})
}

func TestResolveIdle(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		flag string
		set  bool
		env  func(string) string
		want time.Duration
		err  bool
	}{
		{"", false, env(), DefaultIdle, false},
		{"", false, env("CI", "true"), 0, false},
		{"", false, env("CI", "false"), DefaultIdle, false},
		{"", false, env("CI", "true", IdleEnv, "5m"), 5 * time.Minute, false},
		{"90s", true, env("CI", "true", IdleEnv, "5m"), 90 * time.Second, false},
		{"0", true, env(), 0, false},
		{"", false, env(IdleEnv, "600"), 10 * time.Minute, false},
		{"", false, env(IdleEnv, "soon"), 0, true},
		{"-1m", true, env(), 0, true},
	} {
		got, _, err := ResolveIdle(c.flag, c.set, c.env)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ResolveIdle(%q, %v): %v, %v; want %v", c.flag, c.set, got, err, c.want)
		}
	}
}

func TestEnvFingerprint(t *testing.T) {
	a := EnvFingerprint([]string{"HOME=/root", "PWD=/a", "TRIVY_X=1", "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND=x"})
	b := EnvFingerprint([]string{"TRIVY_X=1", "PWD=/b", "HOME=/root", "SHLVL=3"})
	if a != b {
		t.Error("variables no engine reads change the fingerprint")
	}
	for _, kv := range []string{"HTTPS_PROXY=http://p:3128", "DOCKER_CONFIG=/x", "TRIVY_X=2", "SSL_CERT_FILE=/ca.pem"} {
		if EnvFingerprint([]string{"HOME=/root", "TRIVY_X=1", kv}) == a {
			t.Errorf("%s does not change the fingerprint", kv)
		}
	}
}

// Ctrl-C during a scan whose engine hangs (stopped with SIGSTOP while the export is
// written, the pipe full) ends the scan at once, as with a one-shot engine.
func TestWarmEngineHungMidExportCancelReturns(t *testing.T) {
	c, _ := fakeClient(t, time.Minute)
	dir := cacheDir(t, c)
	t.Setenv("FAKE_READ_DELAY", "1s")
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	t.Cleanup(func() { syscall.Kill(a.PID, syscall.SIGCONT) })
	big := strings.Repeat("layer data ", 1<<20) // 11 MiB: more than the pipe holds
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req := ScanRequest{DB: DBOptions{CacheDir: dir}, Image: Image{ID: "sha256:bbb"}}
		_, err := c.Scan(ctx, req, func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(big)), nil })
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(a.PID, syscall.SIGSTOP)
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled scan: %v", err)
		}
	case <-time.After(5 * time.Second):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("a cancelled scan still waits for a hung engine:\n%s", buf[:n])
	}
}

// `engine status` is not a use: polling it does not keep an idle engine up.
func TestWarmEngineStatusDoesNotKeepItUp(t *testing.T) {
	c, _ := fakeClient(t, 1500*time.Millisecond)
	dir := cacheDir(t, c)
	a := mustFakeScan(t, c, dir, "sha256:aaa", "x")
	deadline := time.Now().Add(5 * time.Second)
	for alive(a.PID) && time.Now().Before(deadline) {
		if st, running, err := c.EngineStatusOf(context.Background(), dir); err == nil && running && st.Idle != 1500*time.Millisecond {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if alive(a.PID) {
		t.Fatal("an engine polled with status every 300 ms outlived its 1.5 s idle time by 3.5 s")
	}
}

func TestNoEngineReason(t *testing.T) {
	dir := t.TempDir()
	if why := NoEngineReason(dir); why != "" {
		t.Fatalf("a writable folder: %q", why)
	}
	os.WriteFile(filepath.Join(dir, SocketName), []byte("x"), 0o600)
	if why := NoEngineReason(dir); !strings.Contains(why, "is not a socket") {
		t.Fatalf("a file at the socket's place: %q", why)
	}
	long := "/tmp/" + strings.Repeat("x", 100)
	if why := NoEngineReason(long); !strings.Contains(why, "over 107 bytes") {
		t.Fatalf("a long path: %q", why)
	}
}
