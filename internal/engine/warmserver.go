//go:build linux

package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-secscan/docker-secscan/internal/version"
)

// WarmCall is one request a warm engine serves: what a one-shot engine gets as its
// argument, stdin, stdout, stderr and file descriptor 3.
type WarmCall struct {
	Command string
	Request []byte
	Debug   bool
	Dir     string // the client's working directory
	Stdout  io.Writer
	Stderr  *os.File // the client's stderr (never nil)
	Archive *os.File // the export's pipe, or nil
}

// WarmHandler serves one call and returns the exit status a one-shot engine would.
// Calls never overlap: a warm engine serves one at a time, in arrival order (Trivy's
// DB is a process-wide handle, and each scan opens it afresh, so that a DB another
// process updated is the one used).
type WarmHandler func(ctx context.Context, call *WarmCall) int

// ServeOptions configure Serve.
type ServeOptions struct {
	Socket  string
	ID      string        // EngineID of the binary, as the starting client computed it
	Idle    time.Duration // exit after this long without a request (> 0)
	Handler WarmHandler
	Log     io.Writer // the engine's own log
	// Env is EnvFingerprint of the environment the engine was started with ("": of its
	// environment now), for an engine that changes its own (its private $TMPDIR).
	Env string
}

type warmServer struct {
	opts     ServeOptions
	env      string
	ln       *net.UnixListener
	ino      uint64
	started  time.Time
	turn     chan struct{} // one call at a time
	mu       sync.Mutex
	last     time.Time
	idle     time.Duration
	requests int
	busy     bool
	queued   int
	inflight sync.WaitGroup
	active   int
	done     chan struct{}
	once     sync.Once
}

// Serve listens on opts.Socket (mode 0600) and serves calls until ctx ends, the engine
// has been idle for opts.Idle, a client asks it to stop, a client of another version
// or binary comes (it stops so that the client starts its own), or its socket is
// removed or replaced. It returns once the calls in progress are answered.
func Serve(ctx context.Context, opts ServeOptions) error {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	env := opts.Env
	if env == "" {
		env = EnvFingerprint(os.Environ())
	}
	s := &warmServer{opts: opts, env: env, started: time.Now(), last: time.Now(), idle: opts.Idle,
		turn: make(chan struct{}, 1), done: make(chan struct{})}
	if err := s.listen(); err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "%s secscan-engine %s (pid %d) serving on %s, idle exit after %s\n", time.Now().Format(time.RFC3339), version.Version, os.Getpid(), opts.Socket, opts.Idle)
	go s.watch(ctx)
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			select {
			case <-s.done:
			default:
				s.shutdown("accept: " + err.Error())
			}
			break
		}
		s.inflight.Add(1)
		go func() {
			defer s.inflight.Done()
			s.serveConn(ctx, c)
		}()
	}
	s.inflight.Wait()
	return nil
}

func (s *warmServer) listen() error {
	old := syscall.Umask(0o077)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.opts.Socket, Net: "unix"})
	syscall.Umask(old)
	if errors.Is(err, syscall.EADDRINUSE) {
		return ErrEngineRunning
	}
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false) // removed only while still ours (shutdown)
	if err := os.Chmod(s.opts.Socket, 0o600); err != nil {
		ln.Close()
		return err
	}
	st, err := os.Lstat(s.opts.Socket)
	if err != nil {
		ln.Close()
		return err
	}
	s.ino = st.Sys().(*syscall.Stat_t).Ino
	s.ln = ln
	return nil
}

// ours reports whether the socket file is still the one this engine listens on.
func (s *warmServer) ours() bool {
	st, err := os.Lstat(s.opts.Socket)
	return err == nil && st.Sys().(*syscall.Stat_t).Ino == s.ino
}

// shutdown stops accepting (and removes the socket while it is ours); the calls in
// progress are answered.
func (s *warmServer) shutdown(why string) {
	s.once.Do(func() {
		fmt.Fprintf(s.opts.Log, "%s stopping: %s\n", time.Now().Format(time.RFC3339), why)
		if s.ours() {
			_ = os.Remove(s.opts.Socket)
		}
		close(s.done)
		_ = s.ln.Close()
	})
}

func (s *warmServer) watch(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			s.shutdown("signal")
			return
		case <-tick.C:
		}
		if !s.ours() {
			s.shutdown("the socket was removed or replaced")
			return
		}
		s.mu.Lock()
		idle := s.active == 0 && time.Since(s.last) >= s.idle
		s.mu.Unlock()
		if idle {
			s.shutdown(fmt.Sprintf("idle for %s", s.idle))
			return
		}
	}
}

func (s *warmServer) status() EngineStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return EngineStatus{PID: os.Getpid(), Version: version.Version, Socket: s.opts.Socket, Started: s.started, LastUsed: s.last, Idle: s.idle,
		Requests: s.requests, Busy: s.busy, Queued: s.queued, RSS: rssBytes(os.Getpid()), ExitsAt: s.last.Add(s.idle),
		Protocol: WarmProtocol, EngineID: s.opts.ID, EnvDigest: s.env}
}

func (s *warmServer) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	if _, uid, err := peerCred(c); err != nil || uid != os.Geteuid() {
		return // another user's process: not a word
	}
	s.mu.Lock()
	s.active++
	prevLast := s.last
	s.last = time.Now()
	s.mu.Unlock()
	// A status request is not a use: `watch docker secscan engine status` must not keep
	// an idle engine up (trial finding).
	status := false
	defer func() {
		s.mu.Lock()
		s.active--
		if status {
			s.last = prevLast
		} else {
			s.last = time.Now()
		}
		s.mu.Unlock()
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The first byte carries the descriptors.
	one := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := c.ReadMsgUnix(one, oob)
	if err != nil || n != 1 {
		return
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "client descriptor"))
				}
			}
		}
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var req warmRequest
	if json.Unmarshal(line, &req) != nil {
		return
	}
	var stderr, archive *os.File
	i := 0
	if req.Stderr && i < len(files) {
		stderr = files[i]
		i++
	}
	if req.Archive && i < len(files) {
		archive = files[i]
		i++
	}
	if i != int(one[0]) || i != len(files) || (req.Archive && archive == nil) {
		return
	}
	hello := warmHello{OK: true, PID: os.Getpid(), Version: version.Version}
	switch req.Command {
	case cmdStatus, cmdStop:
	default:
		switch {
		case req.Protocol != WarmProtocol:
			hello.Reason = fmt.Sprintf("protocol %d, the client speaks %d", WarmProtocol, req.Protocol)
		case req.Version != version.Version:
			hello.Reason = fmt.Sprintf("version %s, the client is %s", version.Version, req.Version)
		case req.ID != s.opts.ID:
			hello.Reason = "another engine binary (reinstalled or rebuilt)"
		case req.Env != s.env:
			hello.Reason = "another environment (proxy, registry credentials, Trivy settings)"
		}
	}
	if hello.Reason != "" {
		hello.OK = false
		// Stop first, so that the client can start its own engine on the socket at once.
		s.shutdown("a client needs " + hello.Reason + " (this engine has " + hello.Reason + ")")
	}
	hb, _ := json.Marshal(hello)
	if writeFrame(c, frameHello, hb) != nil || !hello.OK {
		return
	}
	switch req.Command {
	case cmdStatus:
		status = true
		s.mu.Lock()
		s.last = prevLast // as it was before this request
		s.mu.Unlock()
		b, _ := json.Marshal(s.status())
		_ = writeFrame(c, frameStdout, b)
		_ = writeFrame(c, frameExit, []byte{0})
		return
	case cmdStop:
		s.shutdown("asked to stop")
		_ = writeFrame(c, frameExit, []byte{0})
		return
	}
	if stderr == nil {
		return
	}
	// The client hanging up (an interrupt, a killed plugin) cancels its call.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, br)
		cancel()
	}()
	// One call at a time, in turn.
	s.mu.Lock()
	waiting := s.busy
	s.queued++
	s.mu.Unlock()
	if waiting {
		fmt.Fprintf(stderr, "Waiting for another scan: the scan engine (pid %d) runs one scan at a time ...\n", os.Getpid())
	}
	select {
	case s.turn <- struct{}{}:
	case <-cctx.Done():
		s.mu.Lock()
		s.queued--
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.queued--
	s.busy = true
	s.requests++
	if req.Idle > 0 {
		s.idle = req.Idle
	}
	s.mu.Unlock()
	out := &frameWriter{c: c}
	code := func() (code int) {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(s.opts.Log, "%s panic serving %s: %v\n%s", time.Now().Format(time.RFC3339), req.Command, r, debug.Stack())
				_ = json.NewEncoder(out).Encode(ErrorResponse{Error: fmt.Sprintf("the scan engine failed (%v): run with --debug, and see %s", r, s.opts.Socket[:len(s.opts.Socket)-len(SocketName)]+EngineLogName)})
				code = 1
			}
		}()
		return s.opts.Handler(cctx, &WarmCall{Command: req.Command, Request: req.Request, Debug: req.Debug, Dir: req.Dir, Stdout: out, Stderr: stderr, Archive: archive})
	}()
	// The client's descriptors are closed before it reads the exit status, so that its
	// copy of stderr ends.
	for _, f := range files {
		f.Close()
	}
	files = nil
	_ = writeFrame(c, frameExit, []byte{byte(code)})
	s.mu.Lock()
	s.busy = false
	s.last = time.Now()
	s.mu.Unlock()
	<-s.turn
	// Give back what the call allocated: an idle engine holds little more than its
	// start-up memory.
	debug.FreeOSMemory()
}

// frameWriter sends what it is given as stdout frames.
type frameWriter struct {
	c   io.Writer
	err error
}

func (w *frameWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), 1<<20)
		if w.err = writeFrame(w.c, frameStdout, p[:n]); w.err != nil {
			return 0, w.err
		}
		p = p[n:]
	}
	return total, nil
}

// ErrEngineRunning is Serve's error when another engine already serves the socket.
var ErrEngineRunning = errors.New("a scan engine already serves this cache folder")
