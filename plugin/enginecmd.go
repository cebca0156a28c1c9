package plugin

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// idleFlag is --engine-idle: how long the warm scan engine stays up after its last
// scan (README, "The warm engine"). Set records that it was given.
type idleFlag struct {
	value string
	set   bool
}

func (f *idleFlag) String() string { return f.value }
func (f *idleFlag) Type() string   { return "duration" }
func (f *idleFlag) Set(s string) error {
	if _, err := engine.ParseIdle(s, ""); err != nil {
		return err
	}
	f.value, f.set = s, true
	return nil
}

// engineIdle is the command's --engine-idle.
var engineIdle idleFlag

func addEngineIdleFlag(fs *pflag.FlagSet) {
	if fs.Lookup("engine-idle") != nil {
		return
	}
	fs.Var(&engineIdle, "engine-idle", fmt.Sprintf("Keep the scan engine running this long after a scan, for the next one (0: an engine per scan; default $%s, else 0 when CI=true, else %s)", engine.IdleEnv, engine.DefaultIdle))
}

// engineIdleTime is the idle time this command's scans use (engine.ResolveIdle).
func engineIdleTime() (time.Duration, error) {
	d, _, err := engine.ResolveIdle(engineIdle.value, engineIdle.set, os.Getenv)
	return d, err
}

func newEngineCommand(dockerCli command.Cli) *cobra.Command {
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Show or stop the warm scan engine",
		Long: `The scan engine (secscan-engine, Trivy) stays up after a scan for the next one,
serving scans over a socket in the cache folder, and exits after --engine-idle
(default 10m, $` + engine.IdleEnv + `; 0 when CI=true) without a scan.

  docker secscan engine status   # pid, version, memory, requests, when it exits
  docker secscan engine stop     # stop it (after the scan in progress)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&cacheDir, "cache-dir", defaultCacheDir(), "Cache folder whose engine to show or stop")
	client := func() *engine.Client {
		p, _ := engine.Locate()
		return &engine.Client{Path: p, Stderr: dockerCli.Err()}
	}
	abs := func() string {
		if d, err := filepath.Abs(cacheDir); err == nil {
			return d
		}
		return cacheDir
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show whether the warm scan engine runs, its memory and when it exits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, running, err := client().EngineStatusOf(cmd.Context(), abs())
			if err != nil {
				return failed(err)
			}
			printEngineStatus(dockerCli.Out(), abs(), st, running)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "stop",
		Short: "Stop the warm scan engine (after the scan in progress)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, running, err := client().StopEngine(cmd.Context(), abs())
			if err != nil {
				return failedCtx(cmd.Context(), err)
			}
			if !running {
				msg := "No scan engine runs for the cache folder " + abs()
				if why := engine.NoEngineReason(abs()); why != "" {
					msg += ": " + why
				}
				fmt.Fprintln(dockerCli.Out(), msg)
				return nil
			}
			fmt.Fprintf(dockerCli.Out(), "Stopped the scan engine (pid %d)\n", pid)
			return nil
		},
	})
	return cmd
}

func printEngineStatus(w io.Writer, dir string, st engine.EngineStatus, running bool) {
	if !running {
		if why := engine.NoEngineReason(dir); why != "" {
			fmt.Fprintf(w, "Scan engine: none for the cache folder %s: %s\n", dir, why)
			return
		}
		fmt.Fprintf(w, "Scan engine: not running (cache folder %s); the next scan starts it\n", dir)
		return
	}
	now := time.Now()
	fmt.Fprintf(w, "Scan engine: running, pid %d, docker secscan %s\n", st.PID, st.Version)
	fmt.Fprintf(w, "Socket:      %s\n", st.Socket)
	served := "requests"
	if st.Requests == 1 {
		served = "request"
	}
	fmt.Fprintf(w, "Up:          %s, %d %s served\n", now.Sub(st.Started).Round(time.Second), st.Requests, served)
	fmt.Fprintf(w, "Memory:      %.0f MiB resident\n", float64(st.RSS)/(1<<20))
	switch {
	case st.Busy:
		fmt.Fprintf(w, "State:       scanning (%d waiting)\n", st.Queued)
	default:
		fmt.Fprintf(w, "State:       idle for %s; exits after %s idle (at %s)\n", now.Sub(st.LastUsed).Round(time.Second), st.Idle, st.ExitsAt.Local().Format("15:04:05"))
	}
	if st.Stale != "" {
		fmt.Fprintf(w, "Note:        it has %s: the next scan replaces it\n", st.Stale)
	}
}
