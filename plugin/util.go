package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/moby/sys/atomicwriter"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/scanner"
)

// failed wraps err as exit code 1 with a one-line message.
func failed(err error) error {
	return cli.StatusError{StatusCode: ExitFailed, Status: "docker secscan: " + strings.Join(strings.Fields(err.Error()), " ")}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return failed(fmt.Errorf("%q takes no arguments: run 'docker secscan %s --help'", cmd.CommandPath(), cmd.Name()))
	}
	return nil
}

func exactlyOneImage(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return failed(fmt.Errorf("%q needs exactly one image reference, got %d: run '%s --help'", cmd.CommandPath(), len(args), cmd.CommandPath()))
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file and a rename, so a
// reader never sees half a report.
func writeFileAtomic(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report folder %s: %w", dir, err)
		}
	}
	if err := atomicwriter.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

func initLogging(debug bool) { scanner.InitLogging(debug, false) }
