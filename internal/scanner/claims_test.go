package scanner

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// TestLayerClaims: the first runner to claim a layer analyses it; another waits until
// its analysis is in the cache (or the claim is dropped, then takes it over); the
// claim holder meeting the same layer again does not wait on itself.
func TestLayerClaims(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil && os.Geteuid() != 0 {
		// As root, StartRedis installs it (as on a fresh CI machine): the test runs.
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	ctx := context.Background()
	rd, err := testenv.StartRedis(ctx, filepath.Join(t.TempDir(), "redis"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop()
	b := &engine.CacheBackend{URL: rd.URL()}
	a, c := openClaims(ctx, b), openClaims(ctx, b)
	if a == nil || c == nil {
		t.Fatal("no claims on a running Redis")
	}
	defer a.close()
	defer c.close()
	never := func() (string, bool) { return "", false }

	if _, done := a.take(ctx, "diff:x", never); done {
		t.Fatal("the first runner did not get the claim")
	}
	if _, done := a.take(ctx, "diff:x", never); done {
		t.Fatal("the holder waited on its own claim")
	}
	// Another runner waits until the analysis is stored, and says so in one line.
	var notices strings.Builder
	defer func(f func() io.Writer) { claimNotices = f }(claimNotices)
	claimNotices = func() io.Writer { return &notices }
	var stored atomic.Bool
	go func() { time.Sleep(300 * time.Millisecond); stored.Store(true) }()
	t0 := time.Now()
	if d, done := c.take(ctx, "diff:x", func() (string, bool) { return "x", stored.Load() }); !done || d != "x" {
		t.Fatal("the waiter did not take the stored analysis")
	}
	if w := time.Since(t0); w < 250*time.Millisecond {
		t.Fatalf("the waiter did not wait (%s)", w)
	}
	if got := notices.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "Waiting for another runner") || !strings.Contains(got, rd.Addr) || !strings.Contains(got, "at most 3m0s") {
		t.Errorf("the waiting line: %q", got)
	}
	// A dropped claim (its holder failed) is taken over.
	if _, done := a.take(ctx, "diff:y", never); done {
		t.Fatal("no claim on y")
	}
	go func() { time.Sleep(200 * time.Millisecond); a.drop() }()
	if _, done := c.take(ctx, "diff:y", never); done {
		t.Fatal("a dropped claim was not taken over")
	}
	// Which diff ID a compressed blob holds is shared.
	a.learnt(ctx, "sha256:blob", "sha256:diff")
	if got := c.diffOf(ctx, "sha256:blob"); got != "sha256:diff" {
		t.Fatalf("diffOf = %q", got)
	}
	// No Redis: no claims, every runner analyses what it misses.
	rd.Stop()
	if openClaims(ctx, b) != nil {
		t.Fatal("claims on a stopped Redis")
	}
}
