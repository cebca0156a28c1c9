package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSweepTempRemovesOnlyDeadEnginesFolders(t *testing.T) {
	base := t.TempDir()
	dead := 4194000
	for syscall.Kill(dead, 0) != syscall.ESRCH {
		dead--
	}
	mk := func(name string) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(p, "trivy-123"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := mk(fmt.Sprintf("%s%d", tempPrefix, dead))
	alive := mk(fmt.Sprintf("%s%d", tempPrefix, os.Getppid()))
	other := mk("trivy-456")
	sweepTemp(base)
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the folder of a dead engine is still there: %v", err)
	}
	for _, p := range []string{alive, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

func TestPrivateTemp(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	base := os.TempDir()
	done := privateTemp()
	want := filepath.Join(base, fmt.Sprintf("%s%d", tempPrefix, os.Getpid()))
	if os.Getenv("TMPDIR") != want {
		t.Fatalf("TMPDIR %s, want %s", os.Getenv("TMPDIR"), want)
	}
	done()
	if _, err := os.Stat(want); !os.IsNotExist(err) {
		t.Fatalf("the engine's folder is still there: %v", err)
	}
}
