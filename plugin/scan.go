package plugin

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/daemon"
)

func newScanCommand(dockerCli command.Cli) *cobra.Command {
	opts := &gateOptions{}
	exitCode := &exitCodeFlag{}
	cmd := &cobra.Command{
		Use:   "scan [OPTIONS] IMAGE",
		Short: "Scan an image from the local image store for vulnerabilities",
		Long: `Scan an image from the local image store of the daemon the docker CLI uses
(DOCKER_HOST, docker context). IMAGE is a name, name:tag, name@digest or image ID.
OS packages and language packages are checked against Trivy's vulnerability DB, and the
image configuration against best-practice checks; the policy (.secscan.yaml, --policy)
gives every finding a disposition.

Exit codes: 0 scanned (with --exit-code: and the gate passed), 1 the tool failed,
2 with --exit-code (or N with --exit-code N, as Trivy's): the gate would block the
image, 130 interrupted.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return exactlyOneImage(cmd, exitCode.takeValue(cmd, args))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			args = exitCode.takeValue(cmd, args)
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
			if exitCode.code > 0 && !out.verdict.Pass {
				if perr != nil {
					fmt.Fprintf(dockerCli.Err(), "ERROR: %v\n", perr)
				}
				return cli.StatusError{StatusCode: exitCode.code, Status: "docker secscan: the gate would block " + args[0]}
			}
			if perr != nil {
				return failed(perr)
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	opts.addPlatformFlag(cmd.Flags(), "scan")
	f := cmd.Flags().VarPF(exitCode, "exit-code", "", "Exit with this code when the gate would block the image: --exit-code alone exits 2; --exit-code N (Trivy's form) exits N, 0 never")
	f.NoOptDefVal = "2"
	return cmd
}

// exitCodeFlag is scan's --exit-code: alone it means exit 2 (ExitBlocked) when the gate
// would block, as before; with a number (Trivy's --exit-code N, written --exit-code=N
// or --exit-code N) it means exit N, and 0 never fails.
type exitCodeFlag struct {
	code  int
	set   bool
	taken bool // the code came as the first argument (see takeValue)
}

func (e *exitCodeFlag) String() string {
	if !e.set {
		return ""
	}
	return strconv.Itoa(e.code)
}

func (e *exitCodeFlag) Type() string { return "int" }

func (e *exitCodeFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 255 {
		return fmt.Errorf("--exit-code %q: give a number from 0 to 255 (or no value for %d)", s, ExitBlocked)
	}
	e.code, e.set = n, true
	return nil
}

// takeValue handles "--exit-code N IMAGE": the flag parser, which takes the flag alone
// as --exit-code (its optional value goes after "="), leaves N as the first argument.
// When --exit-code was given without a value (so it reads 2) and two arguments follow,
// the first of which is a number, that number is the exit code and the rest is the
// image. It may be called again with the same arguments (argument check, then run).
func (e *exitCodeFlag) takeValue(cmd *cobra.Command, args []string) []string {
	if len(args) != 2 || !cmd.Flags().Changed("exit-code") {
		return args
	}
	if e.taken {
		return args[1:]
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 || n > 255 || e.code != ExitBlocked {
		return args
	}
	e.code, e.taken = n, true
	return args[1:]
}
