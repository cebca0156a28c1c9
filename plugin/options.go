package plugin

import (
	"fmt"
	"golang.org/x/term"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// dbOptions are the vulnerability DB flags shared by scan, push and db.
type dbOptions struct {
	repositories     []string
	javaRepositories []string
	cacheDir         string
	skipUpdate       bool
	noProgress       bool
	// Where repositories and javaRepositories were set (resolveRepositories).
	repositoriesFrom, javaRepositoriesFrom string
}

func (o *dbOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.repositories, "db-repository", nil,
		"OCI repository of the vulnerability DB, tried in order (repeatable; "+fmt.Sprintf(repositoryPrecedence, engine.DBRepositoryEnv, "db.repository")+": mirror.gcr.io/aquasec/trivy-db, ghcr.io/aquasecurity/trivy-db)")
	fs.StringArrayVar(&o.javaRepositories, "java-db-repository", nil,
		"OCI repository of the Java DB, needed for .jar files (repeatable; "+fmt.Sprintf(repositoryPrecedence, engine.JavaDBRepositoryEnv, "db.java-repository")+")")
	fs.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "Cache folder for the vulnerability DB and analysed layers")
	fs.BoolVar(&o.skipUpdate, "skip-db-update", false, "Use the cached vulnerability DB as it is, never download")
	fs.BoolVar(&o.noProgress, "no-progress", false, "Hide progress bars")
	addEngineIdleFlag(fs)
}

func (o *dbOptions) scannerDB() engine.DBOptions {
	return engine.DBOptions{
		CacheDir:         o.cacheDir,
		Repositories:     o.repositories,
		JavaRepositories: o.javaRepositories,
		SkipUpdate:       o.skipUpdate,

		RepositoriesFrom:     o.repositoriesFrom,
		JavaRepositoriesFrom: o.javaRepositoriesFrom,
		// Progress bars are for people: on a non-terminal stderr (CI logs, a pipe) they
		// would print partial lines, so they are hidden there, as with --no-progress.
		NoProgress: o.noProgress || !term.IsTerminal(int(os.Stderr.Fd())),
	}
}

func (o *dbOptions) validate() error {
	if strings.TrimSpace(o.cacheDir) == "" {
		return fmt.Errorf("--cache-dir is empty: give a folder, or leave the flag out for %s", defaultCacheDir())
	}
	if st, err := os.Stat(o.cacheDir); err == nil && !st.IsDir() {
		return fmt.Errorf("--cache-dir %s is a file: give a folder", o.cacheDir)
	}
	if _, err := engine.ParseDBRepositories(o.repositories, "db-repository", engine.DBSchemaVersion); err != nil {
		return err
	}
	_, err := engine.ParseDBRepositories(o.javaRepositories, "java-db-repository", engine.JavaDBSchemaVersion)
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

// Report formats: ours (table, secscan-json) and Trivy's (engine.Formats).
var reportFormats = append([]string{"table", "secscan-json"}, engine.Formats...)

// gateOptions are the scan, report and policy flags shared by scan and push.
type gateOptions struct {
	db     dbOptions
	format string
	output string
	// reportToStderr sends the main report to stderr when it would go to stdout
	// (`docker secscan build -q`, whose stdout is the image ID only).
	reportToStderr bool
	policyFile     string
	vex            []string
	threshold      string
	ignoreUnfixed  bool
	mode           string
	bestPractices  string
	secrets        string
	reports        []string
	publish        publishOptions
	attach         attachOptions // --attach, --sign-key (push and build --push; attach.go)
	fleet          fleetOptions  // --server, --cache-backend, ... (fleet.go)
	// platform limits scan and push to one platform of a multi-platform image
	// (os/arch[/variant]; "" for every platform the image holds).
	platform string
	// baseline is --baseline (a report file, an image, or auto; "" for none) and newOnly
	// --new-only (gate.new-only): see baseline.go.
	baseline string
	newOnly  bool

	// Set by resolvePolicy.
	reportSpecs []reportSpec
	ci          *ci.Context
}

func (o *gateOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.format, "format", "f", "table", "Report format: "+strings.Join(allReportFormats, ", ")+" (json is Trivy's report schema)")
	fs.StringVarP(&o.output, "output", "o", "", "Write the report to this file (atomically) instead of stdout")
	fs.StringArrayVar(&o.reports, "report", nil, "Also write a report, FORMAT=PATH (repeatable; formats: "+strings.Join(allReportFormats, ", ")+")")
	fs.StringVar(&o.policyFile, "policy", "", "Policy file (default: "+policy.DefaultFileName+" in the working directory, else in the git root)")
	fs.StringArrayVar(&o.vex, "vex", nil, "OpenVEX document whose not_affected and fixed statements suppress findings (repeatable)")
	fs.StringVar(&o.threshold, "severity-threshold", "HIGH", "Lowest severity that blocks: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL (overrides gate.block)")
	fs.BoolVar(&o.ignoreUnfixed, "ignore-unfixed", false, "Findings with no fixed version do not block; they are still reported (overrides gate.only-fixed)")
	fs.StringVar(&o.mode, "mode", "block", "What a failed gate does: block (exit 2, no push) or warn (report and go on)")
	fs.StringVar(&o.bestPractices, "best-practices", "", "Image best-practice checks (Dockle IDs): block, warn or off (overrides gate.best-practices; default warn)")
	fs.StringVar(&o.baseline, "baseline", "", "Compare with a baseline: a report (secscan-json or Trivy's JSON), an image (local, else from its registry; local:IMAGE, registry:IMAGE, file:PATH to say which), or auto (the tag scanned, as its registry serves it now); each finding is new, unchanged or fixed")
	fs.BoolVar(&o.newOnly, "new-only", false, "With --baseline, only new findings block or warn; unchanged ones are reported (overrides gate.new-only)")
	fs.StringVar(&o.secrets, "secrets", "", "Secrets in the image's files (Trivy's secret scanner): block, warn or off, which does not run it (overrides gate.secrets; default warn)")
	o.db.addFlags(fs)
	o.publish.addFlags(fs)
	o.fleet.addFlags(fs)
}

// samePath reports whether two report paths name the same file, however spelt
// ("./r.json" and "/work/r.json"; a symbolic link to the other).
func samePath(a, b string) bool {
	abs := func(p string) string {
		if q, err := filepath.Abs(p); err == nil {
			p = q
		}
		if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			p = filepath.Join(dir, filepath.Base(p))
		}
		return p
	}
	if abs(a) == abs(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// addPlatformFlag adds --platform (scan and push; a build's --platform is buildx's).
func (o *gateOptions) addPlatformFlag(fs *pflag.FlagSet, verb string) {
	fs.StringVar(&o.platform, "platform", "", "Only "+verb+" this platform of a multi-platform image, os/arch[/variant] (default: every platform it holds; API 1.46+ for push)")
}

// resolvePolicy loads the policy (file, imports, --vex) and applies the flags the
// user set, which win over the file. It returns the policy and a line that says where
// it came from.
func (o *gateOptions) resolvePolicy(cmd *cobra.Command, now time.Time) (policy.Policy, string, error) {
	return o.resolvePolicyFlags(cmd.Flags(), now)
}

// resolvePolicyFlags is resolvePolicy for a flag set that is not the command's own
// (docker secscan build parses its options itself).
func (o *gateOptions) resolvePolicyFlags(fl *pflag.FlagSet, now time.Time) (policy.Policy, string, error) {
	if !slices.Contains(allReportFormats, o.format) {
		return policy.Policy{}, "", fmt.Errorf("--format %q is not supported: use one of %s", o.format, strings.Join(allReportFormats, ", "))
	}
	if o.platform != "" {
		p, err := daemon.ParsePlatform(o.platform)
		if err != nil {
			return policy.Policy{}, "", fmt.Errorf("--platform: %v", err)
		}
		o.platform = p
	}
	if err := o.db.validate(); err != nil {
		return policy.Policy{}, "", err
	}
	specs, err := parseReportSpecs(o.reports)
	if err != nil {
		return policy.Policy{}, "", err
	}
	if err := checkOutputPath("--output", o.output); err != nil {
		return policy.Policy{}, "", err
	}
	for _, r := range specs {
		if err := checkOutputPath("--report "+r.format+"=", r.path); err != nil {
			return policy.Policy{}, "", err
		}
		if o.output != "" && o.output != "-" && samePath(r.path, o.output) {
			return policy.Policy{}, "", fmt.Errorf("--report %s=%s: %s is already the path of --output: give each report its own file", r.format, r.path, r.path)
		}
	}
	o.reportSpecs = specs
	if _, _, err := o.publish.connection(); err != nil {
		return policy.Policy{}, "", err
	}
	c, err := detectCI(o.publish.ciOverrides)
	if err != nil {
		return policy.Policy{}, "", err
	}
	o.ci = &c
	p := policy.Defaults()
	var sources []string
	path, err := findPolicyFile(o.policyFile)
	if err != nil {
		return p, "", err
	}
	if path != "" {
		if p, err = policy.Load(path, now); err != nil {
			return p, "", err
		}
		sources = append(sources, path)
	} else {
		// No policy file: read the files Trivy and container-scan users already have,
		// where and under the names those tools look for them (policy.FindImports).
		imps, err := policy.FindImports(searchDirs(), os.Getenv)
		if err != nil {
			return p, "", err
		}
		for _, imp := range imps {
			ex, rec, err := policy.LoadImport(imp)
			if err != nil {
				return p, "", err
			}
			p.Exceptions = append(p.Exceptions, ex...)
			p.Imported = append(p.Imported, rec)
			sources = append(sources, rec.Path)
		}
	}
	if err := o.db.resolveRepositories(fl, p, path); err != nil {
		return p, "", err
	}
	if err := o.fleet.resolve(fl, p, path); err != nil {
		return p, "", err
	}
	for _, f := range o.vex {
		ex, rec, err := policy.LoadImport(policy.Import{Path: f, Format: policy.FormatOpenVEX, Note: "--vex"})
		if err != nil {
			return p, "", err
		}
		p.Exceptions = append(p.Exceptions, ex...)
		p.Imported = append(p.Imported, rec)
		sources = append(sources, f)
	}
	if fl.Changed("severity-threshold") || path == "" {
		if p.Block, err = report.ParseSeverity(o.threshold); err != nil {
			return p, "", fmt.Errorf("--severity-threshold: %v", err)
		}
		if p.Warn != nil && *p.Warn >= p.Block {
			p.Warn = nil
		}
	}
	if fl.Changed("ignore-unfixed") {
		p.OnlyFixed = o.ignoreUnfixed
	}
	if fl.Changed("new-only") {
		p.NewOnly = o.newOnly
	}
	if fl.Changed("baseline") && strings.TrimSpace(o.baseline) == "" {
		return p, "", fmt.Errorf("--baseline is empty: give a report file, an image, or auto (or leave the flag out)")
	}
	if o.baseline == "" && fl.Changed("new-only") && o.newOnly {
		return p, "", fmt.Errorf("--new-only needs --baseline: give the report, image or auto to compare with")
	}
	if o.baseline != "" {
		// A malformed argument, or a report file that cannot be read, is refused before
		// any scan (unless gate.baseline-missing: ignore, which notes it after the scan);
		// an image baseline is looked for once the image under test is scanned.
		spec, err := baseline.ParseSpec(o.baseline, os.Stat)
		if err != nil {
			return p, "", err
		}
		if spec.Kind == baseline.KindFile && p.BaselineMissing != policy.ActionIgnore {
			if _, err := baseline.ReadFile(spec.Value); err != nil {
				return p, "", err
			}
		}
	}
	if p.Mode, err = policy.ParseMode(o.mode); err != nil {
		return p, "", fmt.Errorf("--mode: %v", err)
	}
	for _, f := range []struct {
		name  string
		value string
		to    *policy.Action
	}{{"best-practices", o.bestPractices, &p.BestPractices}, {"secrets", o.secrets, &p.Secrets}} {
		if !fl.Changed(f.name) {
			continue
		}
		switch a := policy.Action(strings.ToLower(f.value)); a {
		case policy.ActionBlock, policy.ActionWarn, policy.ActionOff:
			*f.to = a
		default:
			return p, "", fmt.Errorf("--%s %q: use block, warn or off", f.name, f.value)
		}
	}
	src := "defaults"
	if len(sources) > 0 {
		src = strings.Join(sources, ", ")
	}
	return p, src, nil
}

// findPolicyFile returns the --policy file, else .secscan.yaml in the working directory,
// else in the git root, else "".
func findPolicyFile(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("--policy %s: no such file", flag)
		}
		return flag, nil
	}
	for _, dir := range searchDirs() {
		p := filepath.Join(dir, policy.DefaultFileName)
		if st, err := os.Stat(p); err == nil {
			if st.IsDir() {
				return "", fmt.Errorf("%s is a folder, not a policy file: remove or rename it", p)
			}
			return p, nil
		}
	}
	return "", nil
}

// searchDirs is the working directory and, when different, the git root above it.
func searchDirs() []string {
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	dirs := []string{"."}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			if d != wd {
				dirs = append(dirs, d)
			}
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return dirs
}
