// Command docker-secscan is the Docker CLI plugin behind `docker secscan`.
//
// It only hands over to the docker/cli plugin framework; every command lives in
// package plugin.
package main

import (
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"

	"github.com/docker-secscan/docker-secscan/internal/version"
	secscan "github.com/docker-secscan/docker-secscan/plugin"
)

func main() {
	plugin.Run(secscan.NewRootCommand, metadata.Metadata{
		SchemaVersion:    "0.1.0",
		Vendor:           version.Vendor,
		Version:          version.Version,
		ShortDescription: "Scan images for vulnerabilities and gate their push",
		URL:              version.URL,
	})
}
