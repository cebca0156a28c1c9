//go:build linux

package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-secscan/docker-secscan/internal/version"
)

// The warm engine (README, "The warm engine"): a secscan-engine that stays up between
// scans and serves them over a unix socket in the cache folder. One connection carries
// one request:
//
//  1. client → engine: one byte, with the client's stderr and (for a streamed scan) the
//     read end of the export's pipe attached as SCM_RIGHTS, then one JSON line
//     (warmRequest): the identity the client expects (protocol, version, binary, the
//     environment that matters), the command and its request;
//  2. engine → client: frames of [type byte][uint32 big-endian length][payload]: 'h'
//     (warmHello) first, then 'o' (what a one-shot engine writes on stdout, in order),
//     then 'x' (the exit status, one byte). A connection that ends before 'x' means the
//     engine died.
//
// The archive crosses as a file descriptor: the daemon's export goes from the plugin
// into the pipe and from the pipe into the engine, never copied to a file.

// WarmProtocol is the version of the socket protocol; the engine refuses any other.
const WarmProtocol = 1

// File names in the cache folder.
const (
	SocketName    = "engine.sock" // the warm engine's socket (mode 0600)
	EngineLogName = "engine.log"  // the warm engine's own log (its stderr between requests)
	startLockName = "engine.lock" // held while an engine is being started
)

// Commands only a warm engine serves.
const (
	CmdServe  = "serve"
	cmdStatus = "status"
	cmdStop   = "stop"
)

// Frame types (engine → client).
const (
	frameHello  = 'h'
	frameStdout = 'o'
	frameExit   = 'x'
)

// maxFrame bounds a frame's payload (a rendered report is one frame).
const maxFrame = 1 << 30

type warmRequest struct {
	Protocol int    `json:"protocol"`
	Version  string `json:"version"`
	ID       string `json:"id"`  // the engine binary the client would start (EngineID)
	Env      string `json:"env"` // EnvFingerprint of the client's environment
	Command  string `json:"command"`
	Debug    bool   `json:"debug,omitempty"`
	// Idle is the client's idle time; the engine takes the newest client's.
	Idle    time.Duration   `json:"idle,omitempty"`
	Dir     string          `json:"dir,omitempty"` // the client's working directory
	Request json.RawMessage `json:"request,omitempty"`
	Stderr  bool            `json:"stderr,omitempty"`  // the first descriptor is the client's stderr
	Archive bool            `json:"archive,omitempty"` // the next descriptor is the export's pipe
}

type warmHello struct {
	OK      bool   `json:"ok"`
	Reason  string `json:"reason,omitempty"` // why the engine refused (and stops)
	PID     int    `json:"pid"`
	Version string `json:"version"`
}

func writeFrame(w io.Writer, typ byte, p []byte) error {
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, io.EOF
	}
	return h[0], p, nil
}

// EngineID identifies the engine binary at path as this plugin would start it: its
// file (device, inode, size, modification time), the plugin's version and the
// protocol. A reinstalled or rebuilt engine has another ID.
func EngineID(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00%d", path, st.Size(), st.ModTime().UnixNano(), version.Version, WarmProtocol)
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fmt.Fprintf(h, "\x00%d\x00%d", sys.Dev, sys.Ino)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// envPrefixes are the environment variables an engine (Trivy, Go's networking, the
// registry keychain and credential helpers) may read: a warm engine serves only
// clients whose values of these are its own.
var envPrefixes = []string{
	"TRIVY_", "HTTP_PROXY=", "HTTPS_PROXY=", "NO_PROXY=", "ALL_PROXY=", "http_proxy=", "https_proxy=", "no_proxy=", "all_proxy=",
	"REQUEST_METHOD=", "SSL_CERT_FILE=", "SSL_CERT_DIR=", "DOCKER_CONFIG=", "HOME=", "USER=", "XDG_", "TMPDIR=", "PATH=",
	"GODEBUG=", "GOGC=", "GOMEMLIMIT=", "GOMAXPROCS=", "TZ=", "AWS_", "AZURE_", "GOOGLE_", "GCE_", "LANG=", "LC_",
}

// EnvFingerprint digests the variables of environ that an engine may read.
func EnvFingerprint(environ []string) string {
	var keep []string
	for _, kv := range environ {
		for _, p := range envPrefixes {
			if strings.HasPrefix(kv, p) {
				keep = append(keep, kv)
				break
			}
		}
	}
	slices.Sort(keep)
	h := sha256.Sum256([]byte(strings.Join(keep, "\x00")))
	return hex.EncodeToString(h[:])[:24]
}

// peerCred returns the process ID and user ID at the other end of a unix socket.
func peerCred(c *net.UnixConn) (pid, uid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if cerr != nil {
		return 0, 0, cerr
	}
	return int(cred.Pid), int(cred.Uid), nil
}

// checkSocketFile refuses a socket that is not this user's alone (mode 0600 or
// stricter, owned by the effective user): another user's socket is never talked to.
func checkSocketFile(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s is not a socket", path)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is not owned by this user", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is open to other users (mode %v)", path, st.Mode().Perm())
	}
	return nil
}

// errShortSocketPath: unix socket paths are limited to 107 bytes.
var errLongSocketPath = errors.New("the cache folder's path is too long for a unix socket")

func socketPath(dir string) (string, error) {
	p := dir + string(os.PathSeparator) + SocketName
	if len(p) > 107 {
		return "", errLongSocketPath
	}
	return p, nil
}

// rssBytes is this process's resident set size (VmRSS), or 0.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb * 1024
		}
	}
	return 0
}
