package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// tempPrefix names the temporary folder of one engine process: tempPrefix + its pid.
const tempPrefix = "secscan-engine-"

// privateTemp gives this engine process its own temporary folder under the system's
// ($TMPDIR, else /tmp), as $TMPDIR: Trivy's temporary files (its trivy-* folder, the
// cached copies of large files it analyses) go there. Folders left by engines that
// died without cleaning up (kill -9) are removed first: a folder whose process no
// longer runs and that belongs to this user. It returns the function that removes this
// process's folder (a no-op when none could be made; Trivy then uses the system's).
func privateTemp() func() {
	base := os.TempDir()
	sweepTemp(base)
	dir := filepath.Join(base, fmt.Sprintf("%s%d", tempPrefix, os.Getpid()))
	_ = os.RemoveAll(dir) // a dead process's folder of the same pid
	if err := os.Mkdir(dir, 0o700); err != nil {
		return func() {}
	}
	if err := os.Setenv("TMPDIR", dir); err != nil {
		_ = os.Remove(dir)
		return func() {}
	}
	return func() { _ = os.RemoveAll(dir) }
}

// sweepTemp removes base's engine folders whose process is gone and that belong to
// this user.
func sweepTemp(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), tempPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}
