package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/sys/atomicwriter"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/registry"
)

// failed wraps err as exit code 1 with a one-line message (130 "interrupted" when the
// command's context was cancelled by a signal).
func failed(err error) error { return failedCtx(nil, err) }

// failedCtx is failed that also reports an interrupt when ctx was cancelled, whatever
// error the cancellation surfaced as.
func failedCtx(ctx context.Context, err error) error {
	var after afterPush
	if errors.As(err, &after) {
		return cli.StatusError{StatusCode: ExitInterrupted, Status: "docker secscan: " + strings.Join(strings.Fields(after.msg), " ")}
	}
	if errors.Is(err, context.Canceled) || (ctx != nil && ctx.Err() != nil) {
		return cli.StatusError{StatusCode: ExitInterrupted, Status: "docker secscan: interrupted: nothing was pushed"}
	}
	return cli.StatusError{StatusCode: ExitFailed, Status: "docker secscan: " + strings.Join(strings.Fields(err.Error()), " ")}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return failed(fmt.Errorf("unknown command %q for %q: run '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath()))
		}
		return failed(fmt.Errorf("%q takes no arguments: run '%s --help'", cmd.CommandPath(), cmd.CommandPath()))
	}
	return nil
}

func exactlyOneImage(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return failed(fmt.Errorf("%q needs exactly one image reference, got %d: run '%s --help'", cmd.CommandPath(), len(args), cmd.CommandPath()))
	}
	return nil
}

// checkOutputPath validates a report path before any work is done, so that a scan
// never ends with nowhere to put its report: "-" means stdout; a folder, a missing
// parent folder or an unwritable one is an error naming the flag and the path.
func checkOutputPath(flag, path string) error {
	if path == "-" || path == "" {
		return nil
	}
	if f, ok := fdPath(path); ok {
		if f == nil {
			return errNotPassedFD(flag, path)
		}
		return nil
	}
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	}
	if st, err := os.Stat(target); err == nil {
		if st.IsDir() {
			return fmt.Errorf("%s %s is a folder: give a file path", flag, path)
		}
		if !st.Mode().IsRegular() {
			return nil // a device or pipe (e.g. /dev/stdout): written as it is
		}
	}
	dir := filepath.Dir(target)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("%s %s: the folder %s does not exist (create it first)", flag, path, dir)
	}
	f, err := os.CreateTemp(dir, ".secscan-check-*")
	if err != nil {
		return fmt.Errorf("%s %s: cannot write in %s: %v", flag, path, dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same folder and
// a rename, so a reader never sees half a report. A symbolic link is followed (its
// target is replaced); a device or pipe (/dev/stdout) is written directly.
func writeFileAtomic(path string, data []byte) error {
	// /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: the descriptor this process
	// already has, written as a stream at its own offset (never the file behind it
	// replaced, which would wipe a log the shell appends to).
	if f, ok := fdPath(path); ok {
		if f == nil {
			return errNotPassedFD("write report", path)
		}
		if _, err := f.Write(data); err != nil {
			return fmt.Errorf("write report %s: %v", path, err)
		}
		return nil
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("write report %s: %v", path, errors.Unwrap(err))
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("write report %s: %v", path, err)
		}
		return f.Close()
	}
	if err := atomicwriter.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write report %s: %v", path, errors.Unwrap(err))
	}
	return nil
}

// debugEngine is --debug: the engine prints Trivy's debug log.
var debugEngine bool

func initLogging(debug bool) { debugEngine = debug }

// newEngine returns a client for the scan engine installed next to the plugin.
func newEngine(dockerCli command.Cli) (*engine.Client, error) {
	p, err := engine.Locate()
	if err != nil {
		return nil, err
	}
	idle, err := engineIdleTime()
	if err != nil {
		if engineIdle.set {
			return nil, err
		}
		// A typo in $SECSCAN_ENGINE_IDLE (a shell profile, a CI variable) is a speed
		// setting gone wrong, not a reason to stop every command: say so, run one-shot.
		fmt.Fprintf(dockerCli.Err(), "WARNING: %v: scans run without a warm engine (fix or unset $%s)\n", err, engine.IdleEnv)
		idle = 0
	}
	return &engine.Client{Path: p, Stderr: dockerCli.Err(), Debug: debugEngine, Idle: idle}, nil
}

// fdPath tells whether path names one of this process's descriptors (/dev/stdout,
// /dev/stderr, /dev/fd/N, /proc/self/fd/N), and returns os.Stdout or os.Stderr for
// 1 and 2 (never a second *os.File on them, which would close the descriptor when
// garbage-collected), nil for any other: the docker CLI hands a plugin stdin, stdout
// and stderr only, so another descriptor is the plugin's own, never the caller's.
func fdPath(path string) (*os.File, bool) {
	n := -1
	switch p := filepath.Clean(path); {
	case p == "/dev/stdout":
		n = 1
	case p == "/dev/stderr":
		n = 2
	case strings.HasPrefix(p, "/dev/fd/") || strings.HasPrefix(p, "/proc/self/fd/"):
		var err error
		if n, err = strconv.Atoi(p[strings.LastIndex(p, "/")+1:]); err != nil {
			return nil, false
		}
	default:
		return nil, false
	}
	switch n {
	case 1:
		return os.Stdout, true
	case 2:
		return os.Stderr, true
	}
	return nil, true
}

func errNotPassedFD(what, path string) error {
	return fmt.Errorf("%s %s: the docker CLI passes only stdout and stderr to plugins for writing: give a file path (or /dev/stdout)", what, path)
}

// afterPush is an interrupt that came after the image was pushed: the message says what
// was pushed and what is left to do (never "nothing was pushed").
type afterPush struct{ msg string }

func (e afterPush) Error() string { return e.msg }
func (e afterPush) Unwrap() error { return context.Canceled }

// registryCredentials are the docker config's credentials for the registry host domain
// (as `docker login` stored them, in the file or a credential helper; Docker Hub's
// under https://index.docker.io/v1/, where the docker CLI keeps them), for the reads
// and writes the plugin makes itself (the push read-back, attached records, verify,
// registry baselines). Errors name the registry.
func registryCredentials(dockerCli command.Cli, domain string) (registry.Credentials, error) {
	key := domain
	if domain == "docker.io" {
		key = "https://index.docker.io/v1/"
	}
	ac, err := dockerCli.ConfigFile().GetAuthConfig(key)
	if err != nil {
		return registry.Credentials{}, fmt.Errorf("registry credentials for %s: %v", domain, err)
	}
	return registry.Credentials{Username: ac.Username, Password: ac.Password, Auth: ac.Auth, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}, nil
}
