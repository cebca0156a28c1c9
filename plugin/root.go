// Package plugin holds the cobra commands of `docker secscan` and their glue to the
// docker CLI (streams, config file, daemon client), flags, output and exit codes.
//
// Exit codes, for every command: 0 passed (or warn mode; pushed when a push was asked),
// 1 the tool failed (nothing pushed: fail closed), 2 blocked by policy (nothing pushed).
package plugin

import (
	"fmt"
	"os"
	"os/signal"
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cli.StatusError{StatusCode: ExitFailed, Status: "unknown command \"" + args[0] + "\" for \"docker secscan\": run 'docker secscan --help'"}
			}
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
		newVersionCommand(dockerCli),
	)
	return cmd
}
