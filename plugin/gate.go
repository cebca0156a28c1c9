package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/docker/cli/cli/command"

	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// scanOutcome is one image scanned and judged.
type scanOutcome struct {
	image   daemon.Image
	result  *engine.Result
	policy  policy.Policy
	source  string // where the policy came from
	verdict policy.Verdict
	// pushAsked: the command pushes the image when it passes (push, build --push).
	pushAsked bool
	// push is what became of the push, for the job summary (nil: not known yet, or no
	// push was asked).
	push *pushState
}

// pushState says whether the image was pushed, under which reference and digest.
type pushState struct {
	pushed bool
	digest string // the digest the registry holds under the tag ("" when not pushed)
}

// scanError is a failure of the scan itself (DB, image export, analysis), as opposed
// to bad input: the policy's on-scan-error decides whether a push may go on.
type scanError struct{ err error }

func (e scanError) Error() string { return e.err.Error() }
func (e scanError) Unwrap() error { return e.err }

// scanAndJudge resolves input in the local store, scans that image ID, applies the
// policy, and writes the report (to opts.output, or stdout) and the verdict (stderr).
// Any error means the image was not fully scanned: callers must not push unless the
// error is a scanError and the policy says on-scan-error: warn.
func scanAndJudge(ctx context.Context, dockerCli command.Cli, img daemon.Image, opts *gateOptions, pol policy.Policy, source string) (*scanOutcome, error) {
	eng, err := newEngine(dockerCli)
	if err != nil {
		return nil, scanError{err}
	}

	now := time.Now()
	req := engine.ScanRequest{
		Render:        trivyFormats(opts),
		Exceptions:    pol.Exceptions,
		Now:           engine.ScanTime{Time: now},
		DB:            opts.db.scannerDB(),
		NoProgress:    opts.db.noProgress,
		BestPractices: pol.BestPractices != policy.ActionOff,
		Secrets:       pol.Secrets != policy.ActionOff,
		SecretConfig:  secretConfig(pol),
		Image: engine.Image{Reference: img.Input, ID: img.ID, Platform: opts.platform, DiffIDs: img.DiffIDs,
			DiffIDsComplete: img.DiffIDsComplete && opts.platform == "", Available: img.Available, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests},
	}
	// A Trivy server and a Redis cache (fleet.go): checked before anything is exported.
	fl, err := opts.fleet.prepare(ctx, dockerCli.Err(), filepath.Join(opts.db.cacheDir, "scans"))
	if err != nil {
		return nil, err
	}
	defer fl.close()
	req.Server, req.Cache = fl.server, fl.layers
	if fl.server != nil {
		pol.DBServer = engine.MaskURL(fl.server.URL) // the stale-DB notes: the server's DB
	}
	// The image goes from the daemon's export straight into the engine: no copy.
	export := func(ctx context.Context) (io.ReadCloser, error) {
		return daemon.Export(ctx, dockerCli.Client(), img.ID)
	}
	res, err := scanCached(ctx, dockerCli, eng, fl, opts, req, now, export, fmt.Sprintf("%s (%s)", img.Input, shortID(img.ID)), " with policy "+source)
	if err != nil {
		return nil, scanError{err}
	}
	fl.dir.AttachRenders(res)
	// The baseline (--baseline), scanned through the same engine, server and caches.
	cmp, notes, err := compareWithBaseline(ctx, dockerCli, img, res, opts, pol, func(req engine.ScanRequest, export func(context.Context) (io.ReadCloser, error), label string) (*engine.Result, error) {
		req.Now, req.DB, req.NoProgress = engine.ScanTime{Time: now}, opts.db.scannerDB(), opts.db.noProgress
		req.BestPractices, req.Secrets, req.SecretConfig = pol.BestPractices != policy.ActionOff, pol.Secrets != policy.ActionOff, secretConfig(pol)
		req.Server, req.Cache = fl.server, fl.layers
		return scanCached(ctx, dockerCli, eng, fl, opts, req, now, export, label, "")
	})
	if err != nil {
		return nil, err
	}
	out := &scanOutcome{image: img, result: res, policy: pol, source: source, verdict: pol.EvaluateAgainst(res.Scan, now, cmp)}
	out.verdict.Notes = append(out.verdict.Notes, notes...)
	saveResult(opts.db.cacheDir, out)
	if err := writeReport(ctx, dockerCli, out, opts); err != nil {
		return nil, err
	}
	printVerdict(dockerCli.Err(), out.verdict)
	return out, nil
}

// scanCached scans one image (req, whose archive export gives) through the engine,
// or takes its scan from the scan cache when the same image was scanned against the
// same DB. label names the image in the progress line ("app:1 (sha256:0a1b...)"),
// withPolicy ends it (" with policy .secscan.yaml", or ""). Errors are the engine's.
func scanCached(ctx context.Context, dockerCli command.Cli, eng *engine.Client, fl *fleet, opts *gateOptions, req engine.ScanRequest, now time.Time,
	export func(context.Context) (io.ReadCloser, error), label, withPolicy string) (*engine.Result, error) {
	// An unchanged image against an unchanged DB gives the same findings: reuse them.
	cache := fl.dir
	key := ""
	if updated, current := fl.db(&opts.db, now); current {
		key = cache.Key(req, updated)
		if resp, ok := fl.get(ctx, key, req.Image.ID); ok {
			sep := ""
			if withPolicy != "" {
				sep = ","
			}
			fmt.Fprintf(dockerCli.Err(), "Using the scan of %s from %s (same image, same DB)%s%s\n", label, fl.where(), sep, withPolicy)
			resp.Scan.Rename(req.Image.Reference)
			resp.Scan.Image.RepoTags, resp.Scan.Image.RepoDigests = req.Image.RepoTags, req.Image.RepoDigests
			return eng.NewResult(resp), nil
		}
	}
	fmt.Fprintf(dockerCli.Err(), "Scanning %s%s\n", label, withPolicy)
	pruneCache(opts.db.cacheDir)
	res, err := eng.Scan(ctx, req, export)
	if err != nil {
		return nil, err
	}
	if key == "" {
		// The engine may have updated the DB: key by the DB it used.
		key = cache.Key(req, res.DB.UpdatedAt)
	}
	fl.put(ctx, key, res.Response())
	return res, nil
}

func printVerdict(w io.Writer, v policy.Verdict) {
	for _, n := range v.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w, v.Summary)
}

// writeReport writes the main report (-o FILE or stdout, in --format) and every
// --report FORMAT=PATH, each atomically; on GitHub Actions it also appends the Markdown
// summary to $GITHUB_STEP_SUMMARY and sets the scan-report-path output.
func writeReport(ctx context.Context, dockerCli command.Cli, out *scanOutcome, opts *gateOptions) error {
	toStdout := opts.output == "" || opts.output == "-"
	stream := dockerCli.Out()
	if toStdout && opts.reportToStderr {
		stream = dockerCli.Err()
	}
	color := toStdout && stream.IsTerminal()
	main, err := renderReport(ctx, out, opts.format, opts.ci, color)
	if err != nil {
		return err
	}
	var written []string
	for _, r := range opts.reportSpecs {
		b, err := renderReport(ctx, out, r.format, opts.ci, false)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(r.path, b); err != nil {
			return err
		}
		written = append(written, r.path)
	}
	if opts.output != "" && opts.output != "-" {
		if err := writeFileAtomic(opts.output, main); err != nil {
			return err
		}
		written = append([]string{opts.output}, written...)
	} else if _, err := stream.Write(main); err != nil {
		return fmt.Errorf("write the report to stdout: %v (use -o FILE to keep it)", err)
	}
	for _, p := range written {
		fmt.Fprintf(dockerCli.Err(), "Report written to %s\n", p)
	}
	// The job summary and step output are conveniences: a problem with them warns and
	// never changes the verdict.
	if err := githubOutputs(opts, written); err != nil {
		fmt.Fprintf(dockerCli.Err(), "WARNING: %v\n", err)
	}
	return nil
}

// githubOutputs writes scan-report-path to $GITHUB_OUTPUT, as container-scan did: the
// container-scan report when one was asked for, else the first report file. (The job
// summary is appended once the push is decided: see appendStepSummary.)
func githubOutputs(opts *gateOptions, written []string) error {
	if p := os.Getenv("GITHUB_OUTPUT"); p != "" && len(written) > 0 {
		// container-scan's output named its scanreport.json: prefer that format.
		path := written[0]
		for _, r := range opts.reportSpecs {
			if r.format == "container-scan" {
				path = r.path
			}
		}
		if err := appendFile(p, []byte("scan-report-path="+path+"\n")); err != nil {
			return fmt.Errorf("cannot write scan-report-path to GITHUB_OUTPUT (%s): %v", p, err)
		}
	}
	return nil
}

// appendStepSummary appends the Markdown summary of the outcome, with what became of the
// push when one was asked (out.pushAsked), to $GITHUB_STEP_SUMMARY, a blank line apart from
// what earlier runs wrote there. A problem warns and never changes the verdict.
func appendStepSummary(ctx context.Context, dockerCli command.Cli, out *scanOutcome, opts *gateOptions, digest string, pushed bool) {
	p := os.Getenv("GITHUB_STEP_SUMMARY")
	if p == "" || out == nil || out.result == nil {
		return
	}
	o := *out
	if o.pushAsked {
		o.push = &pushState{pushed: pushed, digest: digest}
	}
	md, err := renderReport(ctx, &o, "markdown", opts.ci, false)
	if err == nil {
		if b, rerr := os.ReadFile(p); rerr == nil && len(b) > 0 && !bytes.HasSuffix(b, []byte("\n\n")) {
			md = append([]byte("\n"), md...)
		}
		err = appendFile(p, md)
	}
	if err != nil {
		fmt.Fprintf(dockerCli.Err(), "WARNING: cannot append the summary to GITHUB_STEP_SUMMARY (%s): %v\n", p, err)
	}
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// suppressions lists the excepted findings for Trivy's writers.
func suppressions(v policy.Verdict) []engine.Suppression { return engine.Suppressions(v) }

// trivyFormats lists the Trivy-written formats this run will write (--format and
// --report), so the scan's engine process renders them at once.
func trivyFormats(opts *gateOptions) []string {
	var out []string
	add := func(f string) {
		if engine.ValidFormat(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	add(opts.format)
	for _, r := range opts.reportSpecs {
		add(r.format)
	}
	return out
}

// secscanReport is the secscan-json format: our own model, every finding with its
// disposition, and the verdict.
type secscanReport struct {
	SchemaVersion int               `json:"schemaVersion"` // 1
	Image         report.Image      `json:"image"`
	Scanner       string            `json:"scanner"`
	DB            report.DB         `json:"db"`
	Policy        string            `json:"policy"` // where it came from
	Verdict       secscanVerdict    `json:"verdict"`
	Findings      []policy.Decision `json:"findings"`
	// Fixed are the baseline's findings the image no longer has (change and
	// disposition "fixed"), when the scan was compared with a baseline.
	Fixed      []policy.Decision `json:"fixed,omitempty"`
	StartedAt  time.Time         `json:"startedAt"`
	FinishedAt time.Time         `json:"finishedAt"`
}

type secscanVerdict struct {
	Pass     bool     `json:"pass"`
	Summary  string   `json:"summary"`
	Blocking int      `json:"blocking"`
	Warnings int      `json:"warnings"`
	Excepted int      `json:"excepted"`
	Notes    []string `json:"notes,omitempty"`
	// Baseline is the comparison with --baseline: its source and the new, unchanged
	// and fixed counts (each finding's change is in findings[].change).
	Baseline *policy.BaselineResult `json:"baseline,omitempty"`
}

func writeSecscanJSON(w io.Writer, out *scanOutcome) error {
	v := out.verdict
	r := secscanReport{
		SchemaVersion: 1, Image: out.result.Image, Scanner: out.result.Scanner, DB: out.result.DB, Policy: out.source,
		Verdict:  secscanVerdict{Pass: v.Pass, Summary: v.Summary, Blocking: v.Blocking, Warnings: v.Warnings, Excepted: v.Excepted, Notes: v.Notes, Baseline: v.Baseline},
		Findings: v.Decisions, Fixed: v.Fixed, StartedAt: out.result.StartedAt, FinishedAt: out.result.FinishedAt,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// pruneCache removes cached scans, renders and verdicts written over 30 days ago (a new DB
// makes old scans useless anyway), so the cache does not grow without bound.
func pruneCache(cacheDir string) {
	for _, sub := range []string{"scans", filepath.Join("scans", "renders"), "results", engine.ImageConfigDir} {
		files, _ := filepath.Glob(filepath.Join(cacheDir, sub, "*.*"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && !st.IsDir() && time.Since(st.ModTime()) > 30*24*time.Hour {
				_ = os.Remove(f)
			}
		}
	}
}

func shortID(id string) string {
	if len(id) > 19 {
		return id[:19]
	}
	return id
}

// secretConfigName is Trivy's default --secret-config: custom rules, allow rules and
// disabled rules for the secret scanner, read from the working directory.
const secretConfigName = "trivy-secret.yaml"

// secretConfig is the secret-config file the scan uses: the policy's gate.secret-config,
// else trivy-secret.yaml in the working directory when there is one (as Trivy), else
// none (Trivy's built-in rules). The path is absolute: the engine runs elsewhere.
func secretConfig(pol policy.Policy) string {
	if pol.Secrets == policy.ActionOff {
		return ""
	}
	if pol.SecretConfig != "" {
		return pol.SecretConfig
	}
	if st, err := os.Stat(secretConfigName); err == nil && st.Mode().IsRegular() {
		if abs, err := filepath.Abs(secretConfigName); err == nil {
			return abs
		}
	}
	return ""
}
