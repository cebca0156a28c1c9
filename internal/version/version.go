// Package version holds the build's version stamp.
package version

// Version is the plugin's version, set at build time with
// -ldflags "-X github.com/docker-secscan/docker-secscan/internal/version.Version=v1.2.3".
// A build without the stamp reports "dev".
var Version = "dev"

// Vendor is the plugin vendor shown by `docker info` and `docker --help`.
const Vendor = "docker-secscan"

// URL is the project's home page, shown in the plugin metadata.
const URL = "https://github.com/docker-secscan/docker-secscan"
