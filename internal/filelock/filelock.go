// Package filelock serialises docker secscan processes that share a cache folder, with
// advisory flock(2) locks on files in it.
package filelock

import (
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive lock on path (created if missing), waiting for the process
// that holds it; onWait, when not nil, is called once before waiting. The returned
// function releases the lock.
func Lock(path string, onWait func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	unlock := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return unlock, nil
	}
	if onWait != nil {
		onWait()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return unlock, nil
}
