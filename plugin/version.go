package plugin

import (
	"fmt"
	"runtime"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/version"
)

func newVersionCommand(dockerCli command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the plugin, scanner and Go versions",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(dockerCli.Out(), "docker-secscan %s\nscanner: trivy %s\ngo: %s %s/%s\n",
				version.Version, engine.TrivyVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
