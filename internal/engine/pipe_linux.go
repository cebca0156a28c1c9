package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges the pipe's buffer to 1 MiB (the default maximum for any user, see
// pipe(7)), so that the image archive crosses it in large steps instead of 64 KiB
// ones. Best effort.
func growPipe(f *os.File) {
	// Through SyscallConn, not Fd(): Fd() would put the pipe in blocking mode, and a
	// blocked write could then not be ended by closing the file (a cancelled scan).
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
}
