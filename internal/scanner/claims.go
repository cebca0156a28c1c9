package scanner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// Layer claims. Runners of a fleet that start at once on images with a common base all
// find the base's layers missing from the shared cache (Trivy's Redis cache, or a Trivy
// server's) and would each analyse them. Before it analyses a layer, a runner that
// shares a Redis backend claims it there (SET NX, a key of ours beside Trivy's): the
// first runner analyses it; the others, when the layer comes by in their stream, wait
// until its analysis is in the cache and skip it. A claim is kept alive while its
// holder runs (it lapses claimTTL after the holder dies, and a waiter then takes it
// over and analyses the layer itself); a waiter never waits longer than claimMaxWait
// (then it analyses the layer too), so two runners that wait on each other's layers
// cost time, never a failed scan. Claims change what is analysed where, never what is
// found: a layer is analysed, or its analysis read from the cache, exactly as before.

const (
	claimPrefix   = "secscan::claim::"     // + "diff:<diff ID>" or "blob:<compressed digest>"
	layerDiffKey  = "secscan::layerdiff::" // + compressed digest -> diff ID, learnt by the analyser
	claimTTL      = 30 * time.Second
	claimRenew    = 10 * time.Second
	claimMaxWait  = 3 * time.Minute
	claimPoll     = 100 * time.Millisecond
	layerDiffTTL  = 7 * 24 * time.Hour
	claimsTimeout = 5 * time.Second
)

type layerClaims struct {
	rdb     *redis.Client
	backend string // masked, for the waiting line
	id      string
	mu      sync.Mutex
	held    map[string]bool
	stop    chan struct{}
}

// openClaims connects to the shared Redis backend for claims (nil when there is none or
// it does not answer: then every runner analyses what it misses, as without claims).
func openClaims(ctx context.Context, b *engine.CacheBackend) *layerClaims {
	if b == nil {
		return nil
	}
	opts, err := engine.RedisOptions(*b)
	if err != nil {
		return nil
	}
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, claimsTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		slog.Debug("Layer claims off: the Redis backend does not answer", "backend", b.Masked())
		rdb.Close()
		return nil
	}
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	c := &layerClaims{rdb: rdb, backend: b.Masked(), id: hex.EncodeToString(buf), held: map[string]bool{}, stop: make(chan struct{})}
	go c.keepAlive()
	return c
}

func (c *layerClaims) keepAlive() {
	t := time.NewTicker(claimRenew)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.mu.Lock()
			for k := range c.held {
				ctx, cancel := context.WithTimeout(context.Background(), claimsTimeout)
				_ = c.rdb.Expire(ctx, claimPrefix+k, claimTTL).Err()
				cancel()
			}
			c.mu.Unlock()
		}
	}
}

// take claims the layer named name, unless done says its analysis is in the cache
// already (then it returns done's diff ID and true). When another runner holds the
// claim, it waits for done, or for the claim to lapse (then takes it over), at most
// claimMaxWait. It returns false when this runner is to analyse the layer.
func (c *layerClaims) take(ctx context.Context, name string, done func() (string, bool)) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	mine := c.held[name]
	c.mu.Unlock()
	if mine {
		// The same layer again in this archive (another compression of it in another
		// platform's manifest): analysed here again, as without claims.
		return "", false
	}
	deadline := time.Now().Add(claimMaxWait)
	waited := false
	for {
		if d, ok := done(); ok {
			if waited {
				slog.Debug("Layer analysed by another runner: read from the cache", "layer", name)
			}
			return d, true
		}
		rctx, cancel := context.WithTimeout(ctx, claimsTimeout)
		ok, err := c.rdb.SetNX(rctx, claimPrefix+name, c.id, claimTTL).Result()
		cancel()
		if err != nil || ok {
			if ok {
				c.mu.Lock()
				c.held[name] = true
				c.mu.Unlock()
			}
			return "", false // claimed (or Redis failed: analyse it here)
		}
		if !waited {
			// A line the user sees: a runner that waits says on what, and for how long
			// at most (a runner that froze holding a claim costs claimTTL, not a hang).
			fmt.Fprintf(claimNotices(), "Waiting for another runner that is analysing layer %s (claimed in the Redis cache %s; at most %s, then this runner analyses it)\n", shortLayer(name), c.backend, claimMaxWait)
			waited = true
		}
		if time.Now().After(deadline) {
			return "", false
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-time.After(claimPoll):
		}
	}
}

// diffOf is the diff ID another runner learnt for a compressed layer blob ("" unknown).
func (c *layerClaims) diffOf(ctx context.Context, digest string) string {
	if c == nil {
		return ""
	}
	rctx, cancel := context.WithTimeout(ctx, claimsTimeout)
	defer cancel()
	d, _ := c.rdb.Get(rctx, layerDiffKey+digest).Result()
	return d
}

// learnt records which diff ID a compressed blob holds, for runners waiting on it.
func (c *layerClaims) learnt(ctx context.Context, digest, diffID string) {
	if c == nil || digest == "" || diffID == "" {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, claimsTimeout)
	defer cancel()
	_ = c.rdb.Set(rctx, layerDiffKey+digest, diffID, layerDiffTTL).Err()
}

// drop releases the claims this runner holds: its analyses are in the cache (or it
// failed, and a waiter takes over).
func (c *layerClaims) drop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), claimsTimeout)
	defer cancel()
	for k := range c.held {
		// Only our own claim: a lapsed one may have been taken over.
		if v, err := c.rdb.Get(ctx, claimPrefix+k).Result(); err == nil && v == c.id {
			_ = c.rdb.Del(ctx, claimPrefix+k).Err()
		}
	}
	c.held = map[string]bool{}
}

// close drops the claims and closes the connection.
func (c *layerClaims) close() {
	if c == nil {
		return
	}
	close(c.stop)
	c.drop()
	_ = c.rdb.Close()
}

// claimNotices is where the waiting line goes: the engine's stderr, which the plugin
// shows (read at each call: the warm engine sets os.Stderr per request).
var claimNotices = func() io.Writer { return os.Stderr }

// shortLayer names a claimed layer ("diff:sha256:…" or "blob:sha256:…") by its digest's
// first 12 hex digits.
func shortLayer(name string) string {
	_, d, _ := strings.Cut(name, ":")
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) > 12 {
		return "sha256:" + h[:12]
	}
	return d
}
