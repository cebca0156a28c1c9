//go:build linux

package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-secscan/docker-secscan/internal/filelock"
	"github.com/docker-secscan/docker-secscan/internal/version"
)

// Timeouts of the warm engine's client: a scan never waits forever for an engine that
// does not answer.
var (
	warmDialTimeout  = 2 * time.Second  // connecting to the socket
	warmHelloTimeout = 10 * time.Second // the engine's first answer (it answers at once, busy or not)
	warmStartTimeout = 20 * time.Second // a started engine listening on its socket
	warmLockTimeout  = 30 * time.Second // another client starting the engine
	warmStopTimeout  = 30 * time.Second // an engine asked to stop finishing its scan
)

// fallbackError: the warm engine cannot be used here; the request goes to a one-shot
// engine (said only with --debug).
type fallbackError struct{ why string }

func (e fallbackError) Error() string { return e.why }

// errEngineDied: the connection ended before the engine's exit status.
type engineDiedError struct {
	pid     int
	started bool // it had taken the request (answered its hello)
}

func (e engineDiedError) Error() string {
	return fmt.Sprintf("the scan engine (pid %d) stopped", e.pid)
}

// mismatchError: the engine is of another version, binary or environment; it stopped.
type mismatchError struct{ reason string }

func (e mismatchError) Error() string { return "the running scan engine has " + e.reason }

func (c *Client) stderr() io.Writer {
	if c.Stderr == nil {
		return os.Stderr
	}
	return c.Stderr
}

func (c *Client) debugf(format string, a ...any) {
	if c.Debug {
		fmt.Fprintf(c.stderr(), "debug: "+format+"\n", a...)
	}
}

// warmScan runs a scan through the warm engine of the request's cache folder, starting
// it when none runs. handled is false when the warm engine cannot be used (idle time 0,
// a Trivy server or a Redis cache, a cache folder that is not writable, ...): the
// caller then starts a one-shot engine with the same pending export.
func (c *Client) warmScan(ctx context.Context, req ScanRequest, in []byte, exp **pendingExport, resp *ScanResponse) (bool, error) {
	if c.Idle <= 0 {
		return false, nil
	}
	if req.Server != nil || req.Cache != nil {
		// The fleet's scans (a Trivy server, a Redis layer cache) run in one-shot
		// engines: CI runners, where nothing would reuse a warm one.
		c.debugf("no warm scan engine with --server or --cache-backend: one engine per scan")
		return false, nil
	}
	streamed := req.Image.ArchivePath == ""
	beforeStart := func() {
		// An image not scanned before: let the daemon prepare the export while the
		// engine starts, or opens the DB and the layer cache (as a one-shot engine).
		if streamed && !ImageConfigCached(req.DB.CacheDir, req.Image.ID) {
			(*exp).start(ctx)
		}
	}
	beforeStart()
	dir, err := filepath.Abs(req.DB.CacheDir)
	if err != nil {
		return false, nil
	}
	var out bytes.Buffer
	handled, code, exportErr, err := c.warmDo(ctx, dir, CmdScan, in, streamed, exp, beforeStart, &out)
	if !handled || err != nil {
		return handled, err
	}
	if exportErr != nil {
		return true, exportErr
	}
	return true, c.answer(exitErr(code), out.Bytes(), resp, nil)
}

// warmCall runs a request with no archive (a render) through the warm engine of the
// cache folder the last scan used; handled is false when there is none to use.
func (c *Client) warmCall(ctx context.Context, command string, in []byte, resp any, raw *bytes.Buffer) (bool, error) {
	if c.Idle <= 0 || c.warmDir == "" {
		return false, nil
	}
	var out bytes.Buffer
	handled, code, _, err := c.warmDo(ctx, c.warmDir, command, in, false, nil, func() {}, &out)
	if !handled || err != nil {
		return handled, err
	}
	return true, c.answer(exitErr(code), out.Bytes(), resp, raw)
}

func exitErr(code int) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("exit status %d", code)
}

// warmDo sends one request to the warm engine of dir: an engine of another version,
// binary or environment is replaced, and an engine that dies (killed, crashed, or
// silent) is started again once, the request sent again (with a new export).
func (c *Client) warmDo(ctx context.Context, dir, command string, in []byte, streamed bool, exp **pendingExport, beforeStart func(), out *bytes.Buffer) (handled bool, code int, exportErr, err error) {
	crashed, replaced := false, false
	for {
		conn, err := c.warmConnect(ctx, dir, beforeStart)
		if err != nil {
			var fb fallbackError
			if errors.As(err, &fb) {
				c.debugf("no warm scan engine (%s): one engine for this request", fb.why)
				return false, 0, nil, nil
			}
			return true, 0, nil, err
		}
		c.warmDir = dir
		var e *pendingExport
		if streamed {
			e = *exp
		}
		out.Reset()
		code, exportErr, err = c.warmRound(ctx, conn, command, in, e, out)
		conn.Close()
		if ctx.Err() != nil {
			return true, 0, nil, ctx.Err()
		}
		var mm mismatchError
		var died engineDiedError
		switch {
		case errors.As(err, &mm) && !replaced:
			replaced = true
			c.debugf("%v: it stopped; starting this version's engine", mm)
			continue
		case errors.As(err, &died) && !crashed:
			crashed = true
			// Its socket may still accept while it exits: wait for it (or kill it).
			reap(died.pid)
			if died.started {
				fmt.Fprintf(c.stderr(), "The scan engine (pid %d) stopped before it answered: starting it again\n", died.pid)
			}
			if streamed {
				// The export is started again for the new engine (the first one was
				// taken, or released when that engine did not need it).
				(*exp).release()
				*exp = &pendingExport{export: (*exp).export}
			}
			continue
		case errors.As(err, &died):
			return true, 0, nil, fmt.Errorf("the scan engine stopped before it answered, twice (pid %d; its log: %s): run again, or with --engine-idle 0 to start one engine per scan", died.pid, filepath.Join(dir, EngineLogName))
		case err != nil:
			return true, 0, nil, fmt.Errorf("the warm scan engine failed: %v: run again, or with --engine-idle 0", err)
		}
		return true, code, exportErr, nil
	}
}

// warmConnect connects to the warm engine of dir, starting one when none answers.
func (c *Client) warmConnect(ctx context.Context, dir string, beforeStart func()) (*net.UnixConn, error) {
	sock, err := socketPath(dir)
	if err != nil {
		return nil, fallbackError{err.Error()}
	}
	if conn, err := dialEngine(sock); err == nil {
		return conn, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fallbackError{"the cache folder cannot be made: " + err.Error()}
	}
	if unix.Access(dir, unix.W_OK) != nil {
		return nil, fallbackError{"the cache folder " + dir + " is not writable"}
	}
	lctx, cancel := context.WithTimeout(ctx, warmLockTimeout)
	defer cancel()
	unlock, err := filelock.LockContext(lctx, filepath.Join(dir, startLockName), nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fallbackError{"cannot take the engine start lock: " + err.Error()}
	}
	defer unlock()
	if conn, err := dialEngine(sock); err == nil {
		return conn, nil // another client started it
	}
	if _, err := os.Lstat(sock); err == nil {
		if err := checkSocketFile(sock); err != nil {
			return nil, fallbackError{err.Error()}
		}
		_ = os.Remove(sock) // a dead engine's
	}
	id, err := EngineID(c.Path)
	if err != nil {
		return nil, fallbackError{err.Error()}
	}
	beforeStart()
	logPath := filepath.Join(dir, EngineLogName)
	if st, err := os.Stat(logPath); err == nil && st.Size() > 1<<20 {
		_ = os.Remove(logPath)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fallbackError{"cannot write " + logPath + ": " + err.Error()}
	}
	defer logf.Close()
	cmd := exec.Command(c.Path, CmdServe, "--socket", sock, "--id", id, "--idle", c.Idle.String())
	cmd.Stderr = logf // stdin and stdout: /dev/null; nothing of the plugin's is held
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fallbackError{"cannot start " + c.Path + ": " + err.Error()}
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.NewTimer(warmStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if conn, err := dialEngine(sock); err == nil {
			return conn, nil
		}
		select {
		case <-exited:
			return nil, fallbackError{"the engine exited at start (see " + logPath + ")"}
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-deadline.C:
			_ = cmd.Process.Kill()
			return nil, fallbackError{fmt.Sprintf("the engine did not listen within %s (see %s)", warmStartTimeout, logPath)}
		case <-tick.C:
		}
	}
}

// dialEngine connects to the socket when it is this user's alone, and to a process of
// this user only.
func dialEngine(sock string) (*net.UnixConn, error) {
	if err := checkSocketFile(sock); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: warmDialTimeout}
	nc, err := d.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	conn := nc.(*net.UnixConn)
	if _, uid, err := peerCred(conn); err != nil || uid != os.Geteuid() {
		conn.Close()
		return nil, fmt.Errorf("%s is served by another user's process", sock)
	}
	return conn, nil
}

// warmRound sends one request on conn and collects the engine's stdout into out. For
// a streamed scan (exp not nil), the export goes into a pipe whose read end the engine
// received, when the engine asks for it (ScanReady), as with a one-shot engine.
func (c *Client) warmRound(ctx context.Context, conn *net.UnixConn, command string, in []byte, exp *pendingExport, out *bytes.Buffer) (code int, exportErr, err error) {
	pid, _, _ := peerCred(conn)
	req := warmRequest{Protocol: WarmProtocol, Version: version.Version, Env: EnvFingerprint(os.Environ()), Command: command,
		Debug: c.Debug, Idle: c.Idle, Request: in}
	req.Dir, _ = os.Getwd()
	if command != cmdStatus && command != cmdStop {
		if req.ID, err = EngineID(c.Path); err != nil {
			return 0, nil, err
		}
	}
	var fds []int
	var toClose []*os.File // ours, closed once sent
	var stderrDone chan struct{}
	if command != cmdStatus && command != cmdStop {
		req.Stderr = true
		if f, ok := c.stderr().(interface{ Fd() uintptr }); ok {
			fds = append(fds, int(f.Fd()))
		} else if f, ok := c.stderr().(interface{ FD() uintptr }); ok {
			fds = append(fds, int(f.FD())) // the docker CLI's stream
		} else {
			r, w, err := os.Pipe()
			if err != nil {
				return 0, nil, err
			}
			defer w.Close()
			stderrDone = make(chan struct{})
			go func() {
				_, _ = io.Copy(c.stderr(), r)
				r.Close()
				close(stderrDone)
			}()
			fds = append(fds, int(w.Fd()))
			toClose = append(toClose, w)
			defer func() {
				w.Close()
				select {
				case <-stderrDone:
				case <-ctx.Done(): // an engine that hangs keeps its copy open: no wait
				case <-time.After(5 * time.Second):
				}
			}()
		}
	}
	var archiveW *os.File
	if exp != nil {
		var archiveR *os.File
		if archiveR, archiveW, err = os.Pipe(); err != nil {
			return 0, nil, err
		}
		defer archiveW.Close()
		// Only the engine may hold the read end once it is sent: an engine that dies
		// then makes the export's writes fail instead of blocking.
		defer archiveR.Close()
		growPipe(archiveW)
		req.Archive = true
		fds = append(fds, int(archiveR.Fd()))
		toClose = append(toClose, archiveR)
	}
	line, err := json.Marshal(req)
	if err != nil {
		return 0, nil, err
	}
	// Cancelled (Ctrl-C): close the connection and our end of the export's pipe, so
	// that no read or write waits on an engine that does not answer (a stopped or hung
	// engine holds the pipe full); the one-shot path kills its engine instead.
	stop := context.AfterFunc(ctx, func() {
		conn.Close()
		if archiveW != nil {
			archiveW.Close()
		}
	})
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(warmHelloTimeout))
	var rights []byte
	if len(fds) > 0 {
		rights = unix.UnixRights(fds...)
	}
	_, _, err = conn.WriteMsgUnix([]byte{byte(len(fds))}, rights, nil)
	for _, f := range toClose {
		f.Close()
	}
	if err != nil {
		return 0, nil, engineDiedError{pid: pid}
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return 0, nil, engineDiedError{pid: pid}
	}
	br := bufio.NewReader(conn)
	typ, p, err := readFrame(br)
	var hello warmHello
	if err != nil || typ != frameHello || json.Unmarshal(p, &hello) != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && pid > 0 {
			if command == cmdStatus || command == cmdStop {
				// Asking about an engine never kills it.
				return 0, nil, fmt.Errorf("the scan engine (pid %d) does not answer: the next scan replaces it, or end it with 'kill %d'", pid, pid)
			}
			// Connected, but silent: a hung engine is killed, and replaced.
			fmt.Fprintf(c.stderr(), "The scan engine (pid %d) did not answer within %s: it was stopped, and a new one starts\n", pid, warmHelloTimeout)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return 0, nil, engineDiedError{pid: pid}
	}
	if !hello.OK {
		return 0, nil, mismatchError{hello.Reason}
	}
	_ = conn.SetDeadline(time.Time{})
	stdout := &frameReader{br: br}
	sbr := bufio.NewReader(stdout)
	if exp != nil {
		l, _ := sbr.ReadBytes('\n')
		var ready struct {
			NeedImage *bool `json:"needImage"` // see ScanReady
		}
		switch {
		case json.Unmarshal(l, &ready) != nil || ready.NeedImage == nil:
			out.Write(l)
		case *ready.NeedImage:
			exportErr = exp.copyTo(ctx, archiveW)
		default:
			exp.release()
		}
		archiveW.Close()
	}
	_, _ = io.Copy(out, sbr)
	if !stdout.done {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		if exportErr != nil {
			return 0, exportErr, nil
		}
		return 0, nil, engineDiedError{hello.PID, true}
	}
	return stdout.code, exportErr, nil
}

// frameReader reads the engine's stdout frames up to its exit status.
type frameReader struct {
	br   *bufio.Reader
	buf  []byte
	done bool
	code int
}

func (r *frameReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		typ, payload, err := readFrame(r.br)
		if err != nil {
			return 0, io.EOF
		}
		switch typ {
		case frameStdout:
			r.buf = payload
		case frameExit:
			r.done = true
			if len(payload) > 0 {
				r.code = int(payload[0])
			}
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// EngineStatusOf asks the warm engine of the cache folder dir for its status; running
// is false when none answers. Stale says why this plugin would replace it.
func (c *Client) EngineStatusOf(ctx context.Context, dir string) (st EngineStatus, running bool, err error) {
	sock, err := socketPath(dir)
	if err != nil {
		return st, false, nil
	}
	conn, err := dialEngine(sock)
	if err != nil {
		return st, false, nil
	}
	defer conn.Close()
	var out bytes.Buffer
	if _, _, err := c.warmRound(ctx, conn, cmdStatus, nil, nil, &out); err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return st, false, fmt.Errorf("the scan engine on %s answered nonsense: %v", sock, err)
	}
	id, _ := EngineID(c.Path)
	switch {
	case st.Protocol != WarmProtocol || st.Version != version.Version:
		st.Stale = "version " + st.Version + ", this plugin is " + version.Version
	case st.EngineID != id:
		st.Stale = "another engine binary (reinstalled or rebuilt)"
	case st.EnvDigest != EnvFingerprint(os.Environ()):
		st.Stale = "another environment"
	}
	return st, true, nil
}

// StopEngine asks the warm engine of dir to stop (after the scans in progress) and
// waits for it to exit; running is false when none was running.
func (c *Client) StopEngine(ctx context.Context, dir string) (pid int, running bool, err error) {
	sock, err := socketPath(dir)
	if err != nil {
		return 0, false, nil
	}
	conn, err := dialEngine(sock)
	if err != nil {
		return 0, false, nil
	}
	defer conn.Close()
	pid, _, _ = peerCred(conn)
	var out bytes.Buffer
	if _, _, err := c.warmRound(ctx, conn, cmdStop, nil, nil, &out); err != nil {
		return pid, true, err
	}
	deadline := time.Now().Add(warmStopTimeout)
	for pid > 0 && syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		if time.Now().After(deadline) {
			return pid, true, fmt.Errorf("the scan engine (pid %d) is still finishing a scan after %s: try again later, or kill %d", pid, warmStopTimeout, pid)
		}
		select {
		case <-ctx.Done():
			return pid, true, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return pid, true, nil
}

// isZombie reports whether pid has exited (all its threads, and so its descriptors)
// but not been reaped by its parent.
func isZombie(pid int) bool {
	if tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err == nil && len(tasks) > 1 {
		return false // the leader may be a zombie while other threads still exit
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] == 'Z'
	}
	return false
}

// reap waits for the engine pid to exit (a second at most), then kills it.
func reap(pid int) {
	if pid <= 0 || pid == os.Getpid() {
		return
	}
	start := time.Now()
	for killed := false; syscall.Kill(pid, 0) == nil && !isZombie(pid) && time.Since(start) < 3*time.Second; {
		if !killed && time.Since(start) > time.Second {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed = true
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NoEngineReason says why the cache folder dir can have no warm engine, so that scans
// there run one-shot ("" when an engine can run there): a socket path over the limit,
// a file at the socket's place that is not a socket or is another user's, a folder
// that is not writable.
func NoEngineReason(dir string) string {
	sock, err := socketPath(dir)
	if err != nil {
		return fmt.Sprintf("its socket path (%s/%s) would be over 107 bytes: scans there run one-shot (use a shorter --cache-dir)", dir, SocketName)
	}
	if fi, err := os.Lstat(sock); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Sprintf("%s is not a socket: scans there run one-shot (remove it)", sock)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return fmt.Sprintf("%s belongs to another user (uid %d), whose engine this user may not use: scans there run one-shot (use your own --cache-dir)", sock, st.Uid)
		}
	}
	if unix.Access(dir, unix.W_OK) != nil {
		if _, err := os.Stat(dir); err == nil {
			return fmt.Sprintf("the cache folder %s is not writable: scans there run one-shot", dir)
		}
	}
	return ""
}
