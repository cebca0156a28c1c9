package filelock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLockWaits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan bool, 1)
	got := make(chan struct{})
	go func() {
		u, err := Lock(p, func() { waited <- true })
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("the second locker did not wait")
	}
	unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not handed over")
	}
}

func TestLockContextGivesUpWhenCancelled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := LockContext(ctx, p, cancel) // cancelled as soon as it waits
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait for the lock did not end")
	}
}
