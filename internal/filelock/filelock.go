// Package filelock serialises docker secscan processes that share a cache folder, with
// advisory flock(2) locks on files in it.
package filelock

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock takes an exclusive lock on path (created if missing), waiting for the process
// that holds it; onWait, when not nil, is called once before waiting. The returned
// function releases the lock.
func Lock(path string, onWait func()) (func(), error) {
	return LockContext(context.Background(), path, onWait)
}

// LockContext is Lock that gives up when ctx ends (an interrupt), with ctx's error: the
// wait polls the lock every 50 ms instead of blocking in flock(2), which no signal
// would end.
func LockContext(ctx context.Context, path string, onWait func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	unlock := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return unlock, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited && onWait != nil {
			onWait()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
