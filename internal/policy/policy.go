// Package policy decides whether an image may be pushed, from its findings and a
// policy: severity gates, exceptions with owners and expiry, imported allowlists,
// .trivyignore files and OpenVEX statements. It is pure Go: no I/O but reading the
// policy and import files.
//
// The severity rule is the one Azure's container-scan action and `trivy --exit-code 1
// --severity ...` apply: a finding at or above the block severity fails the gate.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/distribution/reference"
	"github.com/package-url/packageurl-go"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Mode says what a failed gate does.
type Mode string

const (
	// ModeBlock refuses the push when a finding blocks (the default: fail closed).
	ModeBlock Mode = "block"
	// ModeWarn reports blocking findings as warnings and lets the push go ahead.
	ModeWarn Mode = "warn"
)

// ParseMode reads "block" or "warn" (case-insensitive).
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.ToLower(strings.TrimSpace(s))) {
	case ModeBlock:
		return ModeBlock, nil
	case ModeWarn:
		return ModeWarn, nil
	}
	return "", fmt.Errorf("invalid mode %q: use block or warn", s)
}

// Disposition is what the gate made of one finding.
type Disposition string

const (
	// Blocking: at or above the block severity; it fails the gate.
	Blocking Disposition = "blocking"
	// Warning: in the warn band, or blocking while the gate is in warn mode.
	Warning Disposition = "warning"
	// Excepted: suppressed by a valid exception (allowlist, .trivyignore, VEX, policy).
	Excepted Disposition = "excepted"
	// Unfixed: would block or warn, but no fix is known and the policy counts only
	// fixable findings.
	Unfixed Disposition = "unfixed"
	// BelowThreshold: less severe than the warn band (or the block severity).
	BelowThreshold Disposition = "below-threshold"
	// Off: a best-practice finding while best-practice checks are off.
	Off Disposition = "off"
	// InBaseline: a vulnerability that would block or warn, but the baseline has it
	// too (change unchanged) and the policy says gate.new-only.
	InBaseline Disposition = "in-baseline"
	// NotInImage: a finding of the baseline the image no longer has (change fixed):
	// listed in Verdict.Fixed only, never among the image's decisions.
	NotInImage Disposition = "fixed"
)

// Decision pairs a finding with its disposition.
type Decision struct {
	Finding     report.Finding `json:"finding"`
	Disposition Disposition    `json:"disposition"`
	// Exception is the exception that applied (Excepted) or that expired (any other).
	Exception *Exception `json:"exception,omitempty"`
	// Note explains an expired or soon-expiring exception.
	Note string `json:"note,omitempty"`
	// Change is how the finding relates to the baseline (new, unchanged, fixed); ""
	// when there was no baseline.
	Change baseline.Change `json:"change,omitempty"`
}

// BaselineResult is what a comparison with a baseline found.
type BaselineResult struct {
	Source    string `json:"source"` // the baseline, e.g. "app:main (sha256:..., from the registry)"
	New       int    `json:"new"`
	Unchanged int    `json:"unchanged"`
	Fixed     int    `json:"fixed"`
	NewOnly   bool   `json:"newOnly"` // gate.new-only applied
}

// Counts is "N new, N unchanged, N fixed".
func (b BaselineResult) Counts() string {
	return fmt.Sprintf("%d new, %d unchanged, %d fixed", b.New, b.Unchanged, b.Fixed)
}

// Verdict is the gate's decision for one image.
type Verdict struct {
	// Pass is true when the image may be pushed.
	Pass bool `json:"pass"`
	// Counts of findings per disposition.
	Blocking int `json:"blocking"`
	Warnings int `json:"warnings"`
	Excepted int `json:"excepted"`
	// Decisions holds one entry per finding, in the order the findings came.
	Decisions []Decision `json:"decisions"`
	// Notes are gate-level remarks: stale DB, exceptions about to expire or expired.
	Notes []string `json:"notes,omitempty"`
	// Summary is one line that says why the gate passed or failed.
	Summary string `json:"summary"`
	// Baseline is the comparison with a baseline (nil: none), and Fixed the baseline's
	// findings the image no longer has (disposition NotInImage, change fixed): they
	// are reported, never counted.
	Baseline *BaselineResult `json:"baseline,omitempty"`
	Fixed    []Decision      `json:"fixed,omitempty"`
}

// Evaluate applies the policy to a scan at time now.
func (p Policy) Evaluate(scan report.Scan, now time.Time) Verdict {
	return p.EvaluateAgainst(scan, now, nil)
}

// EvaluateAgainst applies the policy to a scan at time now, compared with a baseline:
// cmp is baseline.Compare of the scan's findings (nil: no baseline, as Evaluate). Each
// decision gets its change; with gate.new-only a vulnerability the baseline has too
// (unchanged) that would block or warn is InBaseline instead, and counts for neither
// (best-practice checks and secrets keep their gate.best-practices and gate.secrets
// disposition: a secret already deployed is still a secret pushed again). Exceptions and
// VEX apply first, as without a baseline. Every finding stays in the verdict, and the
// baseline's fixed findings are listed in Fixed.
func (p Policy) EvaluateAgainst(scan report.Scan, now time.Time, cmp *baseline.Comparison) Verdict {
	v := Verdict{Decisions: make([]Decision, 0, len(scan.Findings))}
	if cmp != nil && len(cmp.Changes) != len(scan.Findings) {
		cmp = nil // not a comparison of these findings: fail closed, as without a baseline
	}
	repo := ImageScope(scan.Image)
	p.index = indexExceptions(p.Exceptions)
	expiring := map[string]bool{}
	for i, f := range scan.Findings {
		d := Decision{Finding: f, Disposition: p.severityDisposition(f)}
		if cmp != nil {
			d.Change = cmp.Changes[i]
		}
		if ex, expired := p.matchException(f, repo, now); ex != nil {
			d.Exception = ex
			if expired {
				d.Note = fmt.Sprintf("exception %s (%s) expired on %s", ex.ID, ex.Source, ex.Expires.UTC().Format(time.DateOnly))
			} else {
				d.Disposition = Excepted
				switch {
				case ex.Expires.IsZero():
					d.Note = fmt.Sprintf("excepted by %s: %s (no expiry)", ex.Source, ex.Reason)
				default:
					d.Note = fmt.Sprintf("excepted by %s until %s: %s", ex.Source, ex.Expires.UTC().Format(time.DateOnly), ex.Reason)
					if left := ex.Expires.Sub(now); left <= p.WarnBefore && !expiring[ex.Source+ex.ID] {
						expiring[ex.Source+ex.ID] = true
						v.Notes = append(v.Notes, fmt.Sprintf("exception %s (%s) expires in %s, on %s", ex.ID, ex.Source, humanDays(left), ex.Expires.UTC().Format(time.DateOnly)))
					}
				}
			}
		}
		if p.NewOnly && d.Change == baseline.Unchanged && (d.Finding.Kind == report.KindVulnerability || d.Finding.Kind == "") &&
			(d.Disposition == Blocking || d.Disposition == Warning) {
			d.Disposition = InBaseline
		}
		downgraded := false
		if d.Disposition == Blocking && p.Mode == ModeWarn {
			d.Disposition = Warning
			downgraded = true
			v.Blocking++ // counted as would-block (not also as a warning), but the gate passes
		} else if d.Disposition == Blocking {
			v.Blocking++
		}
		switch d.Disposition {
		case Warning:
			if !downgraded {
				v.Warnings++
			}
		case Excepted:
			v.Excepted++
		}
		v.Decisions = append(v.Decisions, d)
	}
	for _, d := range v.Decisions {
		if d.Note != "" && d.Disposition != Excepted {
			v.Notes = append(v.Notes, fmt.Sprintf("%s in %s: %s", d.Finding.VulnerabilityID, d.Finding.PkgName, d.Note))
		}
	}

	// What imported files hold that cannot apply (e.g. a VEX product known only by CPE).
	for _, imp := range p.Imported {
		v.Notes = append(v.Notes, imp.Notes...)
	}
	if scan.Packages == 0 && scan.Image.OS == "" {
		v.Notes = append(v.Notes, "no OS and no language packages were found in the image: nothing was checked for vulnerabilities")
	}
	v.Notes = append(v.Notes, platformNotes(scan.Image)...)
	v.Notes = append(v.Notes, endOfLifeNotes(scan.Image)...)
	if p.BestPractices != ActionOff && scan.BestPracticeChecks == 0 {
		// Trivy checks the Dockerfile it rebuilds from the image's history; with no
		// history (docker import) or one it cannot parse, no check runs at all.
		v.Notes = append(v.Notes, "the best-practice checks could not run: Trivy found no Dockerfile instructions it could read in the image's build history (an imported image, or an instruction such as HEALTHCHECK that Trivy v0.74 cannot parse); run with --debug for Trivy's message")
	}
	update := "run 'docker secscan db update'"
	if p.DBServer != "" {
		update = "update the DB of the Trivy server " + p.DBServer + " (it downloads one every hour unless started with --skip-db-update; 'docker secscan db update' does not touch it)"
	}
	if next := scan.DB.NextUpdate; !next.IsZero() && now.Sub(next) > 7*24*time.Hour {
		v.Notes = append(v.Notes, fmt.Sprintf("the vulnerability DB is %s past its next update (%s): findings since then are missing, %s", humanDays(now.Sub(next)), next.UTC().Format(time.DateOnly), update))
	}
	staleBlock := false
	if p.MaxDBAge > 0 && !scan.DB.UpdatedAt.IsZero() {
		if age := now.Sub(scan.DB.UpdatedAt); age > p.MaxDBAge {
			msg := fmt.Sprintf("the vulnerability DB was updated %s ago, more than gate.max-db-age %s: %s", humanDays(age), days(p.MaxDBAge), update)
			v.Notes = append(v.Notes, msg)
			staleBlock = p.OnStaleDB == ActionBlock
		}
	}

	// An OS no vulnerability data covers: its packages were not checked, as when a scan
	// could not be completed (gate.on-unsupported-os).
	osBlock := false
	unchecked := scan.UncheckedOS()
	for _, u := range unchecked {
		v.Notes = append(v.Notes, u)
	}
	if len(unchecked) > 0 {
		osBlock = p.OnUnsupportedOS != ActionWarn
		if !osBlock {
			v.Notes = append(v.Notes, "gate.on-unsupported-os is warn: the image passes although its OS packages were not checked")
		}
	}

	if cmp != nil {
		v.Baseline = &BaselineResult{Source: cmp.Source, New: cmp.New, Unchanged: cmp.Unchanged, Fixed: cmp.FixedN, NewOnly: p.NewOnly}
		for _, f := range cmp.Fixed {
			v.Fixed = append(v.Fixed, Decision{Finding: f, Disposition: NotInImage, Change: baseline.Fixed})
		}
	}
	blocked := v.Blocking > 0 && p.Mode != ModeWarn
	v.Pass = !blocked && !staleBlock && !osBlock
	v.Summary = p.summary(v, staleBlock)
	switch {
	case osBlock && !staleBlock:
		rest := v.Summary
		for _, verdict := range []string{"passed with warnings: ", "passed: ", "blocked: "} {
			rest = strings.TrimPrefix(rest, verdict)
		}
		v.Summary = "blocked: the OS packages were not checked, no vulnerability data covers the image's OS release (gate.on-unsupported-os); also " + rest
	case len(unchecked) > 0 && !osBlock:
		v.Summary += "; the OS packages were NOT checked: no vulnerability data covers the image's OS release"
	}
	if b := v.Baseline; b != nil {
		v.Summary += "; against the baseline " + b.Source + ": " + b.Counts()
	}
	return v
}

// disposition is what an action (gate.best-practices, gate.secrets) makes of every
// finding of its kind: off, warning, or blocking.
func (a Action) disposition() Disposition {
	switch a {
	case ActionOff:
		return Off
	case ActionWarn:
		return Warning
	}
	return Blocking
}

// severityDisposition places a finding by severity, fixability and best-practice
// action, before exceptions.
func (p Policy) severityDisposition(f report.Finding) Disposition {
	switch f.Kind {
	case report.KindBestPractice:
		return p.BestPractices.disposition()
	case report.KindSecret:
		// A secret blocks or warns whatever Trivy's rule says its severity is: a
		// credential in a pushed image is out, a LOW rule included (gate.secrets).
		return p.Secrets.disposition()
	}
	d := BelowThreshold
	switch {
	case f.Severity >= p.Block:
		d = Blocking
	case p.Warn != nil && f.Severity >= *p.Warn:
		d = Warning
	}
	if d != BelowThreshold && p.OnlyFixed && !f.Fixable() {
		return Unfixed
	}
	return d
}

// matchException returns the first valid exception for f, or else the first expired
// one (expired = true).
func (p Policy) matchException(f report.Finding, repo Scope, now time.Time) (*Exception, bool) {
	var expired *Exception
	candidates := p.index[strings.ToUpper(f.VulnerabilityID)]
	for _, a := range f.Aliases {
		candidates = append(candidates[:len(candidates):len(candidates)], p.index[strings.ToUpper(a)]...)
	}
	slices.Sort(candidates) // file order: the first matching exception wins
	for _, i := range candidates {
		ex := &p.Exceptions[i]
		if !ex.Matches(f, repo) {
			continue
		}
		if ex.Expires.IsZero() || now.Before(ex.Expires) {
			return ex, false
		}
		if expired == nil {
			expired = ex
		}
	}
	return expired, expired != nil
}

// Scope is what an exception's image scope is compared with: the scanned image.
type Scope struct {
	Repo    string   // normalised repository, e.g. "docker.io/library/alpine" ("" if unknown)
	Tag     string   // the tag scanned, if any
	Digests []string // the image ID and repository digests ("sha256:...")
}

// ImageScope describes a scanned image for exception matching.
func ImageScope(img report.Image) Scope {
	sc := Scope{Digests: []string{img.ID}}
	if named, err := reference.ParseNormalizedNamed(img.Reference); err == nil {
		sc.Repo = named.Name()
		if t, ok := named.(reference.Tagged); ok {
			sc.Tag = t.Tag()
		}
	}
	for _, d := range img.RepoDigests {
		if _, dg, ok := strings.Cut(d, "@"); ok {
			sc.Digests = append(sc.Digests, dg)
		}
	}
	return sc
}

// indexExceptions maps upper-case IDs to the positions of their exceptions.
func indexExceptions(ex []Exception) map[string][]int {
	m := make(map[string][]int, len(ex))
	for i, e := range ex {
		k := strings.ToUpper(e.ID)
		m[k] = append(m[k], i)
	}
	return m
}

// Matches reports whether the exception covers the finding in the scanned image. IDs
// compare case-insensitively with the finding's ID and aliases; Package is a package
// name or a purl (type, namespace and name must match; version and qualifiers only when
// given); Path is a doublestar glob over the package's file path (or the result
// target); Image is a repository, with a tag or digest when given; Product is a VEX
// product purl of the image (pkg:oci or pkg:docker).
func (e Exception) Matches(f report.Finding, repo Scope) bool {
	if !strings.EqualFold(e.ID, f.VulnerabilityID) {
		alias := false
		for _, a := range f.Aliases {
			alias = alias || strings.EqualFold(e.ID, a)
		}
		if !alias {
			return false
		}
	}
	switch {
	case e.VEXComponent != nil:
		if !vexPackageMatches(e.VEXComponent, f) {
			return false
		}
	case e.Package != "" && !matchPackage(e.Package, f):
		return false
	}
	if e.Path != "" {
		p := strings.TrimPrefix(f.PkgPath, "/")
		if p == "" {
			p = f.Target
		}
		if ok, _ := doublestar.Match(strings.TrimPrefix(e.Path, "/"), p); !ok {
			return false
		}
	}
	if e.Image != "" && !matchImage(e.Image, repo) {
		return false
	}
	switch {
	case e.VEXProduct != nil:
		if !vexImageMatches(e.VEXProduct, repo) {
			return false
		}
	case e.Product != "" && !matchProduct(e.Product, repo):
		return false
	}
	return true
}

// matchImage compares an image reference scope (repository[:tag][@digest]) with the
// scanned image.
func matchImage(ref string, sc Scope) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil || named.Name() != sc.Repo {
		return false
	}
	if t, ok := named.(reference.Tagged); ok && t.Tag() != sc.Tag {
		return false
	}
	if d, ok := named.(reference.Digested); ok && !slices.Contains(sc.Digests, d.Digest().String()) {
		return false
	}
	return true
}

// matchProduct compares an OpenVEX product purl for an image with the scanned image:
// pkg:oci/NAME[@DIGEST][?repository_url=REGISTRY/PATH&tag=TAG] (the purl spec's OCI
// type) or pkg:docker/NAMESPACE/NAME[@TAG or DIGEST].
func matchProduct(product string, sc Scope) bool {
	p, err := packageurl.FromString(product)
	if err != nil || sc.Repo == "" {
		return false
	}
	last := sc.Repo[strings.LastIndex(sc.Repo, "/")+1:]
	q := p.Qualifiers.Map()
	switch p.Type {
	case "oci":
		if !strings.EqualFold(p.Name, last) {
			return false
		}
		if u := q["repository_url"]; u != "" && repository(u) != sc.Repo {
			return false
		}
		if t := q["tag"]; t != "" && t != sc.Tag {
			return false
		}
		if p.Version != "" && !slices.Contains(sc.Digests, p.Version) {
			return false
		}
		return true
	case "docker":
		name := p.Name
		if p.Namespace != "" {
			name = p.Namespace + "/" + p.Name
		}
		if repository(name) != sc.Repo {
			return false
		}
		switch {
		case p.Version == "":
		case strings.HasPrefix(p.Version, "sha256:"):
			return slices.Contains(sc.Digests, p.Version)
		default:
			return p.Version == sc.Tag
		}
		return true
	}
	return false
}

func matchPackage(pattern string, f report.Finding) bool {
	if !strings.HasPrefix(pattern, "pkg:") {
		return pattern == f.PkgName
	}
	want, err := packageurl.FromString(pattern)
	if err != nil || f.PURL == "" {
		return false
	}
	got, err := packageurl.FromString(f.PURL)
	if err != nil {
		return false
	}
	if want.Type != got.Type || !strings.EqualFold(want.Namespace, got.Namespace) || want.Name != got.Name {
		return false
	}
	if want.Version != "" && want.Version != got.Version {
		return false
	}
	have := got.Qualifiers.Map()
	for k, v := range want.Qualifiers.Map() {
		if have[k] != v {
			return false
		}
	}
	return true
}

// repository normalises an image reference to its repository name
// ("alpine:3" -> "docker.io/library/alpine"); "" when it is not a reference.
func repository(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return named.Name()
}

func validGlob(p string) bool { return doublestar.ValidatePattern(p) }

// summary is the verdict line. It counts what decided it, by disposition and
// severity, so that it never reads "no finding of severity HIGH" next to listed HIGH
// findings: "passed: no blocking finding (2 HIGH excepted, 1 best-practice warning, 3
// below the threshold; threshold: HIGH)", "blocked: 2 blocking findings (1 CRITICAL,
// 1 HIGH; threshold: HIGH); also 1 HIGH excepted".
func (p Policy) summary(v Verdict, stale bool) string {
	var blocking, excepted, unfixed, warned, below, inBaseline tally
	for _, d := range v.Decisions {
		switch {
		case d.Disposition == Blocking, d.Disposition == Warning && p.Mode == ModeWarn && p.severityDisposition(d.Finding) == Blocking:
			blocking.add(d.Finding)
		case d.Disposition == Warning:
			warned.add(d.Finding)
		case d.Disposition == Excepted:
			excepted.add(d.Finding)
		case d.Disposition == Unfixed:
			unfixed.add(d.Finding)
		case d.Disposition == BelowThreshold:
			below.add(d.Finding)
		case d.Disposition == InBaseline:
			inBaseline.add(d.Finding)
		}
	}
	threshold := "threshold: " + p.Block.String()
	if p.OnlyFixed {
		threshold += " with a fix available"
	}
	if p.BestPractices == ActionBlock {
		threshold += ", best-practice checks block"
	}
	if p.Secrets == ActionBlock {
		threshold += ", secrets block"
	}
	if p.NewOnly && v.Baseline != nil {
		threshold += ", new findings only"
	}
	var rest []string
	rest = append(rest, excepted.phrases("excepted", "excepted", "best-practice finding excepted", "best-practice findings excepted")...)
	rest = append(rest, unfixed.phrases("without a fix (not counted)", "without a fix (not counted)", "", "")...)
	rest = append(rest, inBaseline.phrases("in the baseline (not counted: gate.new-only)", "in the baseline (not counted: gate.new-only)", "", "")...)
	rest = append(rest, warned.phrases("warning", "warnings", "best-practice warning", "best-practice warnings")...)
	if below.total() > 0 {
		rest = append(rest, fmt.Sprintf("%d below the threshold", below.total()))
	}
	also := ""
	if len(rest) > 0 {
		also = "; also " + strings.Join(rest, ", ")
	}
	n := blocking.total()
	counted := strings.Join(blocking.phrases("", "", "best-practice", "best-practice"), ", ")
	switch {
	case stale:
		if n > 0 {
			return fmt.Sprintf("blocked: the vulnerability DB is older than gate.max-db-age; also %d blocking %s (%s; %s)%s", n, plural(n, "finding", "findings"), counted, threshold, strings.Replace(also, "; also ", ", ", 1))
		}
		if len(rest) > 0 {
			return fmt.Sprintf("blocked: the vulnerability DB is older than gate.max-db-age; no blocking finding (%s; %s)", strings.Join(rest, ", "), threshold)
		}
		return fmt.Sprintf("blocked: the vulnerability DB is older than gate.max-db-age; no finding (%s)", threshold)
	case n == 0 && len(rest) == 0:
		return fmt.Sprintf("passed: no finding (%s)", threshold)
	case n == 0:
		return fmt.Sprintf("passed: no blocking finding (%s; %s)", strings.Join(rest, ", "), threshold)
	case p.Mode == ModeWarn:
		return fmt.Sprintf("passed with warnings: %d %s would block (%s; %s), let through by mode warn%s", n, plural(n, "finding", "findings"), counted, threshold, also)
	default:
		return fmt.Sprintf("blocked: %d blocking %s (%s; %s)%s", n, plural(n, "finding", "findings"), counted, threshold, also)
	}
}

// tally counts findings by severity, best-practice findings and secrets apart.
type tally struct {
	bySeverity   map[report.Severity]int
	bestPractice int
	secret       int
}

func (t *tally) add(f report.Finding) {
	if f.Kind == report.KindBestPractice {
		t.bestPractice++
		return
	}
	if f.Kind == report.KindSecret {
		t.secret++
		return
	}
	if t.bySeverity == nil {
		t.bySeverity = map[report.Severity]int{}
	}
	t.bySeverity[f.Severity]++
}

func (t tally) total() int {
	n := t.bestPractice + t.secret
	for _, c := range t.bySeverity {
		n += c
	}
	return n
}

// phrases says the tally most severe first: "2 HIGH excepted", "1 MEDIUM warning", then
// the best-practice findings ("1 best-practice warning") and the secrets, worded the same
// with "secret" for "best-practice" ("2 secret warnings"); bpOne == "" leaves both out.
func (t tally) phrases(one, many, bpOne, bpMany string) []string {
	var out []string
	sevs := report.Severities()
	for i := len(sevs) - 1; i >= 0; i-- {
		if c := t.bySeverity[sevs[i]]; c > 0 {
			out = append(out, strings.TrimSpace(fmt.Sprintf("%d %s %s", c, sevs[i], plural(c, one, many))))
		}
	}
	if t.bestPractice > 0 && bpOne != "" {
		out = append(out, fmt.Sprintf("%d %s", t.bestPractice, plural(t.bestPractice, bpOne, bpMany)))
	}
	if t.secret > 0 && bpOne != "" {
		w := strings.Replace(plural(t.secret, bpOne, bpMany), "best-practice", "secret", 1)
		if w == "secret" && t.secret > 1 {
			w = "secrets"
		}
		out = append(out, fmt.Sprintf("%d %s", t.secret, w))
	}
	return out
}

func humanDays(d time.Duration) string {
	if d < 24*time.Hour {
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// platformNotes are what a reader must know of a multi-platform image or one with
// attestations: a platform image with nothing found to check, platforms the local
// store lacks (neither scanned nor pushed), and a build's SBOM attestation whose
// package count differs from the scan's (one of the two missed something).
func platformNotes(img report.Image) []string {
	var notes []string
	if len(img.Platforms) > 1 {
		for _, p := range img.Platforms {
			if p.Packages == 0 && p.OS == "" {
				notes = append(notes, fmt.Sprintf("no OS and no language packages were found in the %s image: nothing was checked for vulnerabilities there", p.Platform))
			}
		}
	}
	for _, a := range img.Absent {
		notes = append(notes, fmt.Sprintf("the image index names %s, which the local store does not hold: it was not scanned (and a push does not send it)", a))
	}
	for _, a := range img.Attestations {
		if a.SBOMPackages < 0 || a.Platform == "" {
			continue
		}
		if p := img.PlatformOf(a.Platform); p != nil && p.Packages != a.SBOMPackages {
			notes = append(notes, fmt.Sprintf("the build's SBOM attestation for %s lists %d packages, the scan found %d: compare them (an SBOM generator and Trivy may see different package types)", a.Platform, a.SBOMPackages, p.Packages))
		}
	}
	return notes
}

// endOfLifeNotes say, in our words, what Trivy only logs ("This OS version is no longer
// supported by the distribution"): an OS release past its end of life, once per release.
func endOfLifeNotes(img report.Image) []string {
	var releases []string
	for _, p := range img.Platforms {
		if p.EOSL && p.OS != "" && !slices.Contains(releases, p.OS) {
			releases = append(releases, p.OS)
		}
	}
	if len(releases) == 0 && img.EOSL && img.OS != "" {
		releases = append(releases, img.OS)
	}
	var notes []string
	for _, r := range releases {
		notes = append(notes, fmt.Sprintf("%s is past its end of life: its distribution no longer publishes security fixes for it, so vulnerabilities found since may be missing; move to a supported release", r))
	}
	return notes
}
