package scanner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	xhttp "github.com/aquasecurity/trivy/pkg/x/http"
)

// Bounds of a DB download (README, "Caches, offline use and concurrency"). Trivy has no
// flags for them; they are variables for the tests.
var (
	// dbAnswerTimeout bounds each request to a DB repository, from the connection to
	// the response headers. The first request that waits longer ends the attempt at
	// that repository (no retries: go-containerregistry would retry a timeout three
	// times, which made a repository that never answers cost 1.5 silent minutes).
	dbAnswerTimeout = 30 * time.Second
	// dbStallTimeout ends an attempt whose download received no data for this long.
	dbStallTimeout = 60 * time.Second
	// dbWaitNotice is when a request still waiting for its answer is said on stderr.
	dbWaitNotice = 5 * time.Second
	// dbOverallTimeout bounds the whole download, every repository included.
	dbOverallTimeout = 10 * time.Minute
)

// progressOut receives the DB download's progress lines (the engine's stderr, which
// the plugin passes on).
var progressOut io.Writer = os.Stderr

// repoWatch bounds one download attempt at one DB repository: requests that get no
// answer, and bodies that stall, cancel the attempt with a cause that says so.
type repoWatch struct {
	repo    string
	what    string // "vulnerability DB", "Java DB"
	ctx     context.Context
	cancel  context.CancelCauseFunc
	noticed atomic.Bool
}

// watchRepo returns a context for one download attempt at repo whose HTTP requests
// (Trivy builds its transport from the context: pkg/x/http.RoundTripper) are watched.
func watchRepo(ctx context.Context, repo, what string, base xhttp.Transport) (context.Context, *repoWatch) {
	wctx, cancel := context.WithCancelCause(ctx)
	w := &repoWatch{repo: repo, what: what, ctx: wctx, cancel: cancel}
	return xhttp.WithTransport(wctx, watchTransport{base: base, w: w}), w
}

// cause is why the attempt was ended by the watch (nil if it was not).
func (w *repoWatch) cause() error {
	if w.ctx.Err() == nil {
		return nil
	}
	return context.Cause(w.ctx)
}

func (w *repoWatch) stop() { w.cancel(nil) }

// watchTransport builds watched round trippers on top of Trivy's transport.
type watchTransport struct {
	base xhttp.Transport
	w    *repoWatch
}

func (t watchTransport) Build(opts ...xhttp.TransportOption) http.RoundTripper {
	return &watchRT{base: t.base.Build(opts...), w: t.w}
}

type watchRT struct {
	base http.RoundTripper
	w    *repoWatch
}

func (rt *watchRT) RoundTrip(req *http.Request) (*http.Response, error) {
	w := rt.w
	if err := w.cause(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(req.Context())
	stopAfter := context.AfterFunc(w.ctx, cancel)
	release := func() { stopAfter(); cancel() }
	notice := time.AfterFunc(dbWaitNotice, func() {
		if w.noticed.CompareAndSwap(false, true) {
			fmt.Fprintf(progressOut, "Waiting for %s to answer (%s); giving up after %s without an answer ...\n", w.repo, req.URL.Host, dbAnswerTimeout)
		}
	})
	limit := time.AfterFunc(dbAnswerTimeout, func() {
		w.cancel(fmt.Errorf("no answer within %s", dbAnswerTimeout))
	})
	resp, err := rt.base.RoundTrip(req.WithContext(ctx))
	notice.Stop()
	limit.Stop()
	if err != nil {
		release()
		if c := w.cause(); c != nil {
			return nil, c
		}
		return nil, err
	}
	b := &watchBody{rc: resp.Body, w: w, release: release}
	b.timer = time.AfterFunc(dbStallTimeout, b.stalled)
	resp.Body = b
	return resp, nil
}

// watchBody ends the attempt when no data arrives for dbStallTimeout.
type watchBody struct {
	rc      io.ReadCloser
	w       *repoWatch
	timer   *time.Timer
	release func()
	once    sync.Once
}

func (b *watchBody) stalled() {
	b.w.cancel(fmt.Errorf("the download stalled: no data for %s", dbStallTimeout))
}

func (b *watchBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.timer.Stop()
		if c := b.w.cause(); c != nil && err != io.EOF {
			return n, c
		}
		return n, err
	}
	b.timer.Reset(dbStallTimeout)
	return n, nil
}

func (b *watchBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}
