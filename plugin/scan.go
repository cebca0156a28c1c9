package plugin

import (
	"fmt"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/daemon"
)

func newScanCommand(dockerCli command.Cli) *cobra.Command {
	opts := &gateOptions{}
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "scan [OPTIONS] IMAGE",
		Short: "Scan an image from the local image store for vulnerabilities",
		Long: `Scan an image from the local image store of the daemon the docker CLI uses
(DOCKER_HOST, docker context). IMAGE is a name, name:tag, name@digest or image ID.
OS packages and language packages are checked against Trivy's vulnerability DB, and the
image configuration against best-practice checks; the policy (.secscan.yaml, --policy)
gives every finding a disposition.

Exit codes: 0 scanned (with --exit-code: and the gate passed), 1 the tool failed,
2 with --exit-code: the gate would block the image, 130 interrupted.`,
		Args: exactlyOneImage,
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, source, err := opts.resolvePolicy(cmd, time.Now())
			if err != nil {
				return failed(err)
			}
			img, err := daemon.Resolve(cmd.Context(), dockerCli.Client(), args[0])
			if err != nil {
				return failed(err)
			}
			out, err := scanAndJudge(cmd.Context(), dockerCli, img, opts, pol, source)
			if err != nil {
				return failedCtx(cmd.Context(), err)
			}
			perr := publishOutcome(cmd.Context(), dockerCli, out, opts, "", false)
			if cmd.Context().Err() != nil {
				return failedCtx(cmd.Context(), cmd.Context().Err())
			}
			if exitCode && !out.verdict.Pass {
				if perr != nil {
					fmt.Fprintf(dockerCli.Err(), "ERROR: %v\n", perr)
				}
				return cli.StatusError{StatusCode: ExitBlocked, Status: "docker secscan: the gate would block " + args[0]}
			}
			if perr != nil {
				return failed(perr)
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	opts.addPlatformFlag(cmd.Flags(), "scan")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "Exit 2 when the gate would block the image")
	return cmd
}
