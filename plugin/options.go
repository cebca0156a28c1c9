package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
	"github.com/docker-secscan/docker-secscan/internal/scanner"
)

// dbOptions are the vulnerability DB flags shared by scan, push and db.
type dbOptions struct {
	repositories     []string
	javaRepositories []string
	cacheDir         string
	skipUpdate       bool
	noProgress       bool
}

func (o *dbOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.repositories, "db-repository", nil,
		"OCI repository of the vulnerability DB, tried in order (repeatable; default Trivy's: mirror.gcr.io/aquasec/trivy-db, ghcr.io/aquasecurity/trivy-db)")
	fs.StringArrayVar(&o.javaRepositories, "java-db-repository", nil,
		"OCI repository of the Java DB, needed for .jar files (repeatable; default Trivy's)")
	fs.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "Cache folder for the vulnerability DB and analysed layers")
	fs.BoolVar(&o.skipUpdate, "skip-db-update", false, "Use the cached vulnerability DB as it is, never download")
	fs.BoolVar(&o.noProgress, "no-progress", false, "Hide progress bars")
}

func (o *dbOptions) scannerDB() scanner.DBOptions {
	return scanner.DBOptions{
		CacheDir:         o.cacheDir,
		Repositories:     o.repositories,
		JavaRepositories: o.javaRepositories,
		SkipUpdate:       o.skipUpdate,
		NoProgress:       o.noProgress,
	}
}

func (o *dbOptions) validate() error {
	if strings.TrimSpace(o.cacheDir) == "" {
		return fmt.Errorf("--cache-dir is empty: give a folder, or leave the flag out for %s", defaultCacheDir())
	}
	_, err := scanner.ParseDBRepositories(o.repositories, "db-repository")
	return err
}

// defaultCacheDir is $XDG_CACHE_HOME/docker-secscan (~/.cache/docker-secscan on Linux,
// ~/Library/Caches/docker-secscan on macOS), or a folder under the temp dir.
func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "docker-secscan")
	}
	return filepath.Join(os.TempDir(), "docker-secscan-cache")
}

// gateOptions are the scan, report and gate flags shared by scan and push.
type gateOptions struct {
	db            dbOptions
	format        string
	output        string
	threshold     string
	ignoreUnfixed bool
	mode          string
}

func (o *gateOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.format, "format", "f", "table", "Report format: "+strings.Join(scanner.Formats, ", ")+" (json is Trivy's report schema)")
	fs.StringVarP(&o.output, "output", "o", "", "Write the report to this file (atomically) instead of stdout")
	fs.StringVar(&o.threshold, "severity-threshold", "HIGH", "Lowest severity that blocks: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL")
	fs.BoolVar(&o.ignoreUnfixed, "ignore-unfixed", false, "Findings with no fixed version do not block (they are still reported)")
	fs.StringVar(&o.mode, "mode", "block", "What a failed gate does: block (exit 2, no push) or warn (report and go on)")
	o.db.addFlags(fs)
}

// gate validates the flags and returns the gate they describe.
func (o *gateOptions) gate() (policy.Gate, error) {
	th, err := report.ParseSeverity(o.threshold)
	if err != nil {
		return policy.Gate{}, fmt.Errorf("--severity-threshold: %v", err)
	}
	mode, err := policy.ParseMode(o.mode)
	if err != nil {
		return policy.Gate{}, fmt.Errorf("--mode: %v", err)
	}
	if !scanner.ValidFormat(o.format) {
		return policy.Gate{}, fmt.Errorf("--format %q is not supported: use one of %s", o.format, strings.Join(scanner.Formats, ", "))
	}
	if err := o.db.validate(); err != nil {
		return policy.Gate{}, err
	}
	return policy.Gate{Threshold: th, IgnoreUnfixed: o.ignoreUnfixed, Mode: mode}, nil
}
