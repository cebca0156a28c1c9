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
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/sys/atomicwriter"

	"github.com/docker-secscan/docker-secscan/internal/report"
	"github.com/docker-secscan/docker-secscan/internal/version"
)

// BinaryName is the engine's file name, installed next to docker-secscan.
const BinaryName = "secscan-engine"

// PathEnv names an engine binary to use instead of the one next to the plugin.
const PathEnv = "SECSCAN_ENGINE"

// ErrNoDB means no usable vulnerability DB is in the cache (engine error kind no-db).
var ErrNoDB = errors.New("no vulnerability DB in the cache")

// noDBError is the engine's no-db answer: its own message, and errors.Is ErrNoDB.
type noDBError struct{ msg string }

func (e noDBError) Error() string        { return e.msg }
func (e noDBError) Is(target error) bool { return target == ErrNoDB }

// Client runs engine requests.
type Client struct {
	// Path of the secscan-engine binary (see Locate).
	Path string
	// Stderr receives the engine's progress and logs (default os.Stderr).
	Stderr io.Writer
	// Debug turns on Trivy's debug log.
	Debug bool
	// Idle keeps a warm engine up this long after its last request, serving scans and
	// renders over a socket in the cache folder (warm.go); 0 starts an engine process
	// per request.
	Idle time.Duration

	warmDir string // the cache folder whose warm engine the last scan used
}

// Locate finds the engine: $SECSCAN_ENGINE, else secscan-engine next to the running
// executable (symbolic links resolved, so a plugin linked into cli-plugins finds the
// engine beside its real file), else on PATH.
func Locate() (string, error) {
	if p := os.Getenv(PathEnv); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		p := filepath.Join(filepath.Dir(exe), BinaryName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(BinaryName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the scan engine %s is not installed next to docker-secscan: reinstall with 'make install' (or set %s)", BinaryName, PathEnv)
}

// Result is one scan as the engine returned it.
type Result struct {
	report.Scan
	DBStatus  DBStatus
	trivy     json.RawMessage
	client    *Client
	renderDir string // where rendered reports are cached ("" for none)

	// Reports the scan's engine process rendered, and the suppressions they used.
	prerendered   map[string][]byte
	prerenderSupp []byte
}

// Scan asks the engine to scan an image. When req.Image.ArchivePath is empty, the
// archive comes from export, which Scan calls once, right after starting the engine, so
// that the daemon prepares the export while the engine starts; the archive is streamed
// to the engine only if it asks for it (see ScanReady), and closed unread otherwise.
func (c *Client) Scan(ctx context.Context, req ScanRequest, export func(context.Context) (io.ReadCloser, error)) (*Result, error) {
	var resp ScanResponse
	if err := c.scan(ctx, req, export, &resp); err != nil {
		return nil, err
	}
	// Fail closed on an answer that is not a scan of this image (a wrong or broken
	// engine): it must never pass as "no findings".
	if resp.Scan.Image.ID != req.Image.ID || resp.Scan.Scanner == "" || resp.Scan.FinishedAt.IsZero() || len(resp.Trivy) < 2 || resp.Trivy[0] != '{' {
		return nil, fmt.Errorf("the scan engine %s gave no valid scan of %s: reinstall docker secscan ('make install')", c.Path, req.Image.ID)
	}
	r := &Result{Scan: resp.Scan, DBStatus: resp.DB, trivy: resp.Trivy, client: c}
	if len(resp.Renders) > 0 {
		r.prerendered = resp.Renders
		r.prerenderSupp, _ = json.Marshal(ExceptedBy(req.Exceptions, resp.Scan, req.Now))
	}
	return r, nil
}

func (c *Client) scan(ctx context.Context, req ScanRequest, export func(context.Context) (io.ReadCloser, error), resp *ScanResponse) error {
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	streamed := req.Image.ArchivePath == ""
	if streamed && export == nil {
		return errors.New("internal: no image archive to scan")
	}
	exp := &pendingExport{export: export}
	defer func() { exp.release() }()
	if handled, err := c.warmScan(ctx, req, in, &exp, resp); handled {
		return err
	}
	cmd := c.command(ctx, CmdScan)
	cmd.Stdin = bytes.NewReader(append(in, '\n'))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	// The archive goes on its own pipe, the engine's file descriptor 3.
	var archiveR, archiveW *os.File
	if streamed {
		if archiveR, archiveW, err = os.Pipe(); err != nil {
			return err
		}
		defer archiveW.Close()
		cmd.ExtraFiles = []*os.File{archiveR}
		growPipe(archiveW)
	}
	if err := cmd.Start(); err != nil {
		if archiveR != nil {
			archiveR.Close()
		}
		return fmt.Errorf("cannot run the scan engine %s: %v", c.Path, err)
	}
	var out bytes.Buffer
	br := bufio.NewReader(stdout)
	var exportErr error
	if streamed {
		archiveR.Close() // the engine's copy stays open
		// A cold scan starts the export now, so that the daemon prepares it while the
		// engine starts up. When the image was scanned before, the engine most likely
		// needs no image (a new DB): the export waits for the engine to ask, because a
		// Docker daemon stages a whole export even when it is cancelled.
		if !ImageConfigCached(req.DB.CacheDir, req.Image.ID) {
			exp.start(ctx)
		}
		line, _ := br.ReadBytes('\n')
		var ready struct {
			NeedImage *bool `json:"needImage"` // see ScanReady
		}
		switch {
		case json.Unmarshal(line, &ready) != nil || ready.NeedImage == nil:
			out.Write(line) // not a ready line: the engine failed before it was ready
		case *ready.NeedImage:
			exportErr = exp.copyTo(ctx, archiveW)
		default:
			exp.release() // not needed: stop the daemon's export now
		}
		archiveW.Close()
	}
	_, _ = io.Copy(&out, br)
	runErr := cmd.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if exportErr != nil {
		// The engine saw a cut archive; the export's own error is the cause.
		return exportErr
	}
	return c.answer(runErr, out.Bytes(), resp, nil)
}

// pendingExport is the daemon's export of the image for one scan: started at most
// once, and closed unread (which stops it) unless the engine takes it.
type pendingExport struct {
	export   func(context.Context) (io.ReadCloser, error)
	cancel   context.CancelFunc
	result   chan exported
	started  bool
	taken    bool
	released bool
}

type exported struct {
	rc  io.ReadCloser
	err error
}

func (p *pendingExport) start(ctx context.Context) {
	if p.started {
		return
	}
	p.started = true
	ctx, p.cancel = context.WithCancel(ctx)
	p.result = make(chan exported, 1)
	go func() {
		rc, err := p.export(ctx)
		p.result <- exported{rc, err}
	}()
}

// copyTo streams the export into w (starting it if need be). The error is the
// export's own (a failed read of the daemon's stream); a write error only means the
// engine stopped reading, and its answer says why.
func (p *pendingExport) copyTo(ctx context.Context, w io.Writer) error {
	p.start(ctx)
	p.taken = true
	e := <-p.result
	if e.rc == nil {
		return e.err
	}
	defer e.rc.Close()
	src := &readErrRecorder{r: e.rc}
	_, _ = io.CopyBuffer(w, src, make([]byte, 1<<20))
	return src.err
}

// release stops an export that was started but not taken; it may be called again.
func (p *pendingExport) release() {
	if !p.started || p.released {
		return
	}
	p.released = true
	p.cancel()
	if !p.taken {
		go func() {
			if e := <-p.result; e.rc != nil {
				e.rc.Close()
			}
		}()
	}
}

// readErrRecorder remembers the error of the reader it wraps, so that a failed export
// is told apart from an engine that stopped reading.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// Write renders the result in one of Formats (Trivy's writers, in the engine) into w;
// nothing is written when rendering fails.
//
// Renders are kept beside a cached scan (see ScanCache.AttachRenders): the same scan,
// format and suppressions give the same report, so a warm run starts no engine.
func (r *Result) Write(ctx context.Context, w io.Writer, format string, suppressed []Suppression) error {
	return r.WritePlatform(ctx, w, format, suppressed, "")
}

// WritePlatform is Write for one platform image of a multi-platform scan (platform
// os/arch[/variant]; "" for the whole scan).
func (r *Result) WritePlatform(ctx context.Context, w io.Writer, format string, suppressed []Suppression, platform string) error {
	img := r.Scan.Image
	req := RenderRequest{Format: format, Trivy: r.trivy, Suppressed: suppressed, Image: &img, Platform: platform}
	key := ""
	if r.renderDir != "" {
		h := sha256.New()
		h.Write(r.trivy)
		sup, _ := json.Marshal(suppressed)
		h.Write(sup)
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00%s\x00%q\x00%q\x00%s", format, TrivyVersion, version.Version, img.Reference, img.RepoTags, img.RepoDigests, platform)
		key = filepath.Join(r.renderDir, hex.EncodeToString(h.Sum(nil))+"."+format)
		if b, err := os.ReadFile(key); err == nil {
			_, err = w.Write(b)
			return err
		}
	}
	var buf bytes.Buffer
	sup, _ := json.Marshal(suppressed)
	if pre, ok := r.prerendered[format]; ok && platform == "" && bytes.Equal(sup, r.prerenderSupp) {
		buf.Write(pre)
	} else if err := r.client.call(ctx, CmdRender, req, nil, &buf); err != nil {
		return err
	}
	if buf.Len() == 0 {
		return fmt.Errorf("the scan engine %s rendered an empty %s report: reinstall docker secscan ('make install')", r.client.Path, format)
	}
	if key != "" && os.MkdirAll(r.renderDir, 0o700) == nil {
		_ = atomicwriter.WriteFile(key, buf.Bytes(), 0o600)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// UpdateDB makes the DB available (downloaded when needed, or always with force), and
// the Java DB too when javaDB is set.
func (c *Client) UpdateDB(ctx context.Context, db DBOptions, force, javaDB bool) (DBStatus, error) {
	var st DBStatus
	err := c.call(ctx, CmdDBUpdate, DBUpdateRequest{DB: db, Force: force, JavaDB: javaDB}, &st, nil)
	return st, err
}

// ImportDB checks the DB (or Java DB) at req.Path and makes it the cached one.
func (c *Client) ImportDB(ctx context.Context, req DBImportRequest) (DBStatus, error) {
	var st DBStatus
	err := c.call(ctx, CmdDBImport, req, &st, nil)
	return st, err
}

// DBStatus reads the status of the cached DB; ErrNoDB (wrapped) when there is none.
func (c *Client) DBStatus(ctx context.Context, cacheDir string) (DBStatus, error) {
	var st DBStatus
	err := c.call(ctx, CmdDBStatus, DBStatusRequest{CacheDir: cacheDir}, &st, nil)
	return st, err
}

// command prepares an engine run: cancelling ctx interrupts the engine (SIGINT, then
// SIGKILL after 10 s), which removes its temporary files.
func (c *Client) command(ctx context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Path, command)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stderr = c.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.Env = os.Environ()
	if c.Debug {
		cmd.Env = append(cmd.Env, DebugEnv+"=1")
	}
	return cmd
}

// call runs the engine with req on stdin. A JSON response is decoded into resp, or the
// raw stdout copied to raw.
func (c *Client) call(ctx context.Context, command string, req, resp any, raw *bytes.Buffer) error {
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if command == CmdRender {
		if handled, err := c.warmCall(ctx, command, in, resp, raw); handled {
			return err
		}
	}
	cmd := c.command(ctx, command)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout = &out
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return c.answer(runErr, out.Bytes(), resp, raw)
}

// answer interprets an engine run: its exit (runErr) and its stdout.
func (c *Client) answer(runErr error, out []byte, resp any, raw *bytes.Buffer) error {
	if runErr != nil {
		var er ErrorResponse
		if json.Unmarshal(lastLine(out), &er) == nil && er.Error != "" {
			if er.Kind == ErrKindNoDB {
				return noDBError{er.Error}
			}
			return errors.New(er.Error)
		}
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			return fmt.Errorf("the scan engine %s failed (%v) without saying why: run with --debug", c.Path, ee)
		}
		return fmt.Errorf("cannot run the scan engine %s: %v", c.Path, runErr)
	}
	if raw != nil {
		_, err := raw.Write(out)
		return err
	}
	if err := json.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("the scan engine %s answered nonsense: %v", c.Path, err)
	}
	return nil
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}
