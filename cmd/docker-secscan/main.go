// Command docker-secscan is the Docker CLI plugin behind `docker secscan`.
//
// It only hands over to the docker/cli plugin framework; every command lives in
// package plugin.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"

	"github.com/docker-secscan/docker-secscan/internal/version"
	secscan "github.com/docker-secscan/docker-secscan/plugin"
)

func main() {
	// Run on its own, the plugin framework would print docker's help and exit 0: a CI
	// script calling the binary directly would pass with nothing scanned or pushed.
	if plugin.RunningStandalone() {
		fmt.Fprintln(os.Stderr, "docker-secscan is a Docker CLI plugin: run it as "+strings.TrimSpace("'docker secscan "+strings.Join(os.Args[1:], " "))+"' (install it with 'make install')")
		os.Exit(1)
	}
	// A closed stdout (`docker secscan scan ... | head`) must give a one-line error
	// (exit 1), not a silent death by SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	plugin.Run(secscan.NewRootCommand, metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           version.Vendor,
		Version:          version.Version,
		ShortDescription: "Scan images for vulnerabilities and gate their push",
		URL:              version.URL,
	})
}
