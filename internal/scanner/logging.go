package scanner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/aquasecurity/trivy/pkg/log"
)

// coveredLogs are Trivy warnings that docker secscan says in its own words, from the
// scan's facts, so that a cached re-scan says them too: an end-of-life release (the
// policy's note from the platform's EOSL), an OS without vulnerability data (osUnchecked)
// and a release missing from Trivy's end-of-life list (not actionable).
var coveredLogs = []string{
	"This OS version is no longer supported by the distribution",
	// (the second line of Trivy's end-of-life warning)
	"The vulnerability detection may be insufficient because security updates are not provided",
	"Unsupported os",
	"This OS version is not on the EOL list",
	// A file over 10 MB the secret scanner reads anyway; Trivy's advice (--skip-files)
	// is not an option of docker secscan.
	"The size of the scanned file is too large",
}

// noteHandler is the log handler of the engine without --debug: Trivy's own log lines
// never reach the user in Trivy's format. A warning or error docker secscan does not
// say in its own words becomes one "note:" line (each message once); the rest is dropped
// (--debug shows Trivy's log as it is).
type noteHandler struct {
	out   io.Writer
	attrs []slog.Attr
	mu    *sync.Mutex
	seen  map[string]bool
}

func newNoteHandler(out io.Writer) *noteHandler {
	return &noteHandler{out: out, mu: &sync.Mutex{}, seen: map[string]bool{}}
}

func (h *noteHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *noteHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	for _, c := range coveredLogs {
		if strings.HasPrefix(r.Message, c) {
			return nil
		}
	}
	var details []string
	add := func(a slog.Attr) bool {
		if a.Key != "prefix" && a.Key != "" {
			details = append(details, fmt.Sprintf("%s %v", a.Key, a.Value.Resolve()))
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := strings.TrimSuffix(strings.TrimSpace(r.Message), ".")
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	msg = strings.Join(strings.Fields(msg), " ")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[msg] {
		return nil
	}
	h.seen[msg] = true
	_, err := fmt.Fprintf(h.out, "note: the scanner reported: %s (run with --debug for its log)\n", msg)
	return err
}

func (h *noteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &h2
}

func (h *noteHandler) WithGroup(string) slog.Handler { return h }

// initNoteLogging makes h the process-wide logger, after handing it what Trivy logged
// before (Trivy buffers its log records until a logger is set).
func initNoteLogging(h slog.Handler) {
	if d, ok := slog.Default().Handler().(*log.DeferredHandler); ok {
		d.Flush(h)
	}
	slog.SetDefault(log.New(h))
}
