package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges the pipe's buffer to 1 MiB (the default maximum for any user, see
// pipe(7)), so that the image archive crosses it in large steps instead of 64 KiB
// ones. Best effort.
func growPipe(f *os.File) {
	_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}
