package plugin

import (
	"fmt"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

func newScanCommand(dockerCli command.Cli) *cobra.Command {
	opts := &gateOptions{}
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "scan [OPTIONS] IMAGE",
		Short: "Scan an image from the local image store for vulnerabilities",
		Long: `Scan an image from the local image store of the daemon the docker CLI uses
(DOCKER_HOST, docker context). IMAGE is a name, name:tag, name@digest or image ID.
OS packages and language packages are checked against Trivy's vulnerability DB.

With --exit-code the gate decides the exit code:
` + exitCodesHelp,
		Args: exactlyOneImage,
		RunE: func(cmd *cobra.Command, args []string) error {
			gate, err := opts.gate()
			if err != nil {
				return failed(err)
			}
			out, err := scanAndJudge(cmd.Context(), dockerCli, args[0], opts, gate)
			if err != nil {
				return failed(err)
			}
			fmt.Fprintln(dockerCli.Err(), out.verdict.Summary)
			if exitCode && !out.verdict.Pass {
				return cli.StatusError{StatusCode: ExitBlocked, Status: "docker secscan: " + out.verdict.Summary}
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "Exit 2 when the gate would block the image")
	return cmd
}
