// Package plugin holds the cobra commands of `docker secscan` and their glue to the
// docker CLI (streams, config file, daemon client), flags, output and exit codes.
//
// Exit codes, for every command: 0 passed (or warn mode; pushed when a push was asked),
// 1 the tool failed (nothing pushed: fail closed), 2 blocked by policy (nothing pushed).
package plugin

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// Exit codes (documented in --help and the README).
const (
	ExitPassed  = 0
	ExitFailed  = 1
	ExitBlocked = 2
)

const exitCodesHelp = `Exit codes:
  0    passed (or --mode warn); the image was pushed when a push was asked
  1    the tool failed (bad input, daemon, registry or DB error); nothing was pushed
  2    blocked by policy; nothing was pushed
  130  interrupted; nothing was pushed`

// ExitInterrupted is the exit code after an interrupt (128 + SIGINT, the shell's
// convention).
const ExitInterrupted = 130

// NewRootCommand returns the `secscan` command with its subcommands, for
// plugin.Run from github.com/docker/cli/cli-plugins/plugin.
func NewRootCommand(dockerCli command.Cli) *cobra.Command {
	var debug bool
	cmd := &cobra.Command{
		Use:   "secscan",
		Short: "Scan images for vulnerabilities and gate their push",
		Long: `Scan an image from the local image store for vulnerabilities (Trivy as a library),
decide with a severity gate, and push only what passed.

Examples:
  docker secscan scan alpine:3.20
  docker secscan push registry.example.com/team/app:1.4.2
  docker secscan push --severity-threshold CRITICAL --mode warn app:dev

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// With Args set, cobra leaves an unknown command to it (its own message would lack
		// the "docker secscan:" every error starts with).
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := "run 'docker secscan --help'"
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = "did you mean 'docker secscan " + strings.Join(s, "' or 'docker secscan ") + "'? (" + hint + ")"
			}
			return failed(fmt.Errorf("unknown command %q for \"docker secscan\": %s", args[0], hint))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			initLogging(debug)
			// Cobra runs only the nearest persistent pre-run: hand over to the plugin
			// framework's, which initialises the docker CLI (config, context, client).
			if plugin.PersistentPreRunE != nil {
				if err := plugin.PersistentPreRunE(cmd, args); err != nil {
					return err
				}
			}
			// An interrupt (Ctrl-C, or the docker CLI passing one on) cancels the
			// command's context, so temporary files are removed and nothing is pushed.
			ctx, _ := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			cmd.SetContext(ctx)
			return nil
		},
	}
	cmd.SuggestionsMinimumDistance = 2
	cmd.PersistentFlags().BoolVar(&debug, "debug", false, "Print the scanner's debug log on stderr")
	// A bad flag is bad input: one line and exit 1, not a usage dump and exit 125.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return failed(fmt.Errorf("%v: run '%s --help'", err, c.CommandPath()))
	})
	cmd.AddCommand(
		newScanCommand(dockerCli),
		newPushCommand(dockerCli),
		newBuildCommand(dockerCli),
		newDBCommand(dockerCli),
		newPolicyCommand(dockerCli),
		newCIContextCommand(dockerCli),
		newPublishCommand(dockerCli),
		newHooksCommand(dockerCli),
		newHookHandlerCommand(dockerCli),
		newVerifyCommand(dockerCli),
		newVersionCommand(dockerCli),
		newEngineCommand(dockerCli),
	)
	prefixErrors(cmd)
	return cmd
}

// prefixErrors makes every error of cmd and its subcommands (their argument checks,
// pre-runs and runs) start with "docker secscan:", as failed() writes them, whatever
// returned it (cobra, the docker CLI's plugin framework, a command that forgot).
func prefixErrors(cmd *cobra.Command) {
	wrap := func(f func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
		if f == nil {
			return nil
		}
		return func(c *cobra.Command, args []string) error { return withPrefix(c, f(c, args)) }
	}
	if cmd.Args != nil {
		args := cmd.Args
		cmd.Args = func(c *cobra.Command, a []string) error { return withPrefix(c, args(c, a)) }
	}
	cmd.PersistentPreRunE = wrap(cmd.PersistentPreRunE)
	cmd.PreRunE = wrap(cmd.PreRunE)
	cmd.RunE = wrap(cmd.RunE)
	for _, sub := range cmd.Commands() {
		prefixErrors(sub)
	}
}

func withPrefix(c *cobra.Command, err error) error {
	var se cli.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		if se.Status != "" && !strings.HasPrefix(se.Status, "docker secscan:") {
			se.Status = "docker secscan: " + se.Status
		}
		return se
	case strings.HasPrefix(err.Error(), "docker secscan:"):
		return cli.StatusError{StatusCode: ExitFailed, Status: err.Error()}
	}
	return failedCtx(c.Context(), err)
}
