package attest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Verdicts a record can carry (Verdict.Verdict).
const (
	// VerdictPassed: nothing blocked and nothing warned.
	VerdictPassed = "passed"
	// VerdictWarned: the gate passed with warnings.
	VerdictWarned = "warned"
	// VerdictWarnMode: findings would have blocked, and the policy's mode: warn let the
	// push go ahead.
	VerdictWarnMode = "blocked-but-pushed-in-warn-mode"
	// VerdictBlocked: the gate failed (only re-judging gives it: a blocked image is not pushed).
	VerdictBlocked = "blocked"
)

// Verdict is the predicate of PredicateVerdict: what the gate decided about one pushed
// manifest or index, under which policy, against which DB, in which CI run.
type Verdict struct {
	Verdict string    `json:"verdict"` // VerdictPassed, VerdictWarned, VerdictWarnMode
	Summary string    `json:"summary"` // the gate's one-line summary
	GatedAt time.Time `json:"gatedAt"` // when the gate decided (RFC 3339, UTC)
	Image   struct {
		Reference string `json:"reference"`          // the reference pushed, e.g. registry/app:1
		Digest    string `json:"digest"`             // the manifest or index digest this record is about
		ID        string `json:"id"`                 // the local image ID that was scanned
		Platform  string `json:"platform,omitempty"` // os/arch[/variant] when the record is about one platform's manifest
		OS        string `json:"os,omitempty"`       // detected OS, e.g. "alpine 3.9.4"
		// Platforms are what the scan looked at (layers, packages, OS data) per platform image.
		Platforms []report.Platform `json:"platforms,omitempty"`
	} `json:"image"`
	Policy struct {
		Digest    string `json:"digest"` // "sha256:<hex>" of the policy as `docker secscan policy check -f json` prints it
		Source    string `json:"source"` // the file it came from, or "defaults"
		Mode      string `json:"mode"`   // block or warn
		Block     string `json:"block"`  // severity at and above which a finding blocks
		Warn      string `json:"warn,omitempty"`
		OnlyFixed bool   `json:"onlyFixed"`
	} `json:"policy"`
	Counts     Counts             `json:"counts"`
	Exceptions []AppliedException `json:"exceptions"`
	DB         report.DB          `json:"db"`
	Scanner    string             `json:"scanner"` // e.g. "trivy v0.74.0"
	CI         ci.Context         `json:"ci"`
	Tool       struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"tool"`
	Notes []string `json:"notes,omitempty"`
	// Findings are the scan's findings (every disposition), so that a verifier can
	// judge them again under another policy without the image.
	Findings []report.Finding `json:"findings"`
}

// Counts are findings per disposition (policy.Disposition).
type Counts struct {
	Total          int `json:"total"`
	Blocking       int `json:"blocking"`
	Warning        int `json:"warning"`
	Excepted       int `json:"excepted"`
	Unfixed        int `json:"unfixed"`
	BelowThreshold int `json:"belowThreshold"`
	Off            int `json:"off"`
	// InBaseline: would block or warn, but the baseline has it too and the policy
	// says gate.new-only.
	InBaseline int `json:"inBaseline"`
}

// CountsOf counts v's decisions by disposition.
func CountsOf(v policy.Verdict) Counts {
	c := Counts{Total: len(v.Decisions)}
	for _, d := range v.Decisions {
		switch d.Disposition {
		case policy.Blocking:
			c.Blocking++
		case policy.Warning:
			c.Warning++
		case policy.Excepted:
			c.Excepted++
		case policy.Unfixed:
			c.Unfixed++
		case policy.BelowThreshold:
			c.BelowThreshold++
		case policy.Off:
			c.Off++
		case policy.InBaseline:
			c.InBaseline++
		}
	}
	return c
}

// AppliedException is an exception that suppressed at least one finding.
type AppliedException struct {
	ID        string    `json:"id"`
	Package   string    `json:"package,omitempty"`
	Reason    string    `json:"reason"`
	Expires   time.Time `json:"expires,omitzero"` // zero: no expiry (imports without a date)
	Owner     string    `json:"owner,omitempty"`
	Ticket    string    `json:"ticket,omitempty"`
	Source    string    `json:"source"` // "file:line"
	VEXStatus string    `json:"vexStatus,omitempty"`
	Findings  int       `json:"findings"` // how many findings it suppressed
}

// VerdictInput is what NewVerdict records.
type VerdictInput struct {
	Scan report.Scan // the scan (for a platform record: that platform's findings only)
	// Verdict is the gate's verdict on the whole image (with its baseline, if any);
	// its decisions are narrowed to one platform's when Platform is set.
	Verdict                     policy.Verdict
	Policy                      policy.Policy
	Reference, Digest, Platform string
	CI                          ci.Context
	Version                     string // docker secscan's version
	Now                         time.Time
}

// NewVerdict records the gate's verdict in.Verdict: its outcome (for the push as a
// whole, which the gate decided), and the counts and exceptions of the findings the
// record is about (one platform's when in.Platform is set).
func NewVerdict(in VerdictInput) Verdict {
	v := in.Verdict
	if in.Platform != "" {
		v.Decisions = nil
		for _, d := range in.Verdict.Decisions {
			if d.Finding.Platform == in.Platform {
				v.Decisions = append(v.Decisions, d)
			}
		}
	}
	var out Verdict
	out.Verdict = VerdictName(in.Verdict)
	out.Summary = in.Verdict.Summary
	out.GatedAt = in.Now.UTC() // full precision: two pushes in the same second are told apart
	out.Image.Reference, out.Image.Digest, out.Image.ID, out.Image.Platform = in.Reference, in.Digest, in.Scan.Image.ID, in.Platform
	out.Image.OS, out.Image.Platforms = in.Scan.Image.OS, in.Scan.Image.Platforms
	out.Policy.Digest = PolicyDigest(in.Policy)
	out.Policy.Source, out.Policy.Mode, out.Policy.Block, out.Policy.OnlyFixed = in.Policy.Source, string(in.Policy.Mode), in.Policy.Block.String(), in.Policy.OnlyFixed
	if in.Policy.Warn != nil {
		out.Policy.Warn = in.Policy.Warn.String()
	}
	out.Counts = CountsOf(v)
	out.Exceptions = applied(v)
	out.DB, out.Scanner, out.CI = in.Scan.DB, in.Scan.Scanner, in.CI
	out.Tool.Name, out.Tool.Version = "docker-secscan", in.Version
	out.Notes = v.Notes
	out.Findings = in.Scan.Findings
	if out.Findings == nil {
		out.Findings = []report.Finding{}
	}
	return out
}

// VerdictName names the outcome of a gate's verdict: blocked, the warn-mode pass of
// findings that would block (policy.Verdict counts them as Blocking while it passes),
// passed with warnings, or passed.
func VerdictName(v policy.Verdict) string {
	switch {
	case !v.Pass:
		return VerdictBlocked
	case v.Blocking > 0:
		return VerdictWarnMode
	case v.Warnings > 0:
		return VerdictWarned
	}
	return VerdictPassed
}

func applied(v policy.Verdict) []AppliedException {
	out := []AppliedException{}
	at := map[string]int{}
	for _, d := range v.Decisions {
		if d.Disposition != policy.Excepted || d.Exception == nil {
			continue
		}
		e := d.Exception
		k := e.Source + "\x00" + e.ID
		if i, ok := at[k]; ok {
			out[i].Findings++
			continue
		}
		at[k] = len(out)
		out = append(out, AppliedException{ID: e.ID, Package: e.Package, Reason: e.Reason, Expires: e.Expires,
			Owner: e.Owner, Ticket: e.Ticket, Source: e.Source, VEXStatus: e.VEXStatus, Findings: 1})
	}
	return out
}

// PolicyDigest is "sha256:<hex>" of the policy's JSON (as `docker secscan policy check
// -f json` prints it): two runs under the same policy give the same digest.
func PolicyDigest(p policy.Policy) string {
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// ForPlatform is scan narrowed to one platform image (os/arch[/variant]): its findings
// and its platform entry. A single-platform scan is returned as is.
func ForPlatform(scan report.Scan, platform string) report.Scan {
	if len(scan.Image.Platforms) <= 1 {
		return scan
	}
	out := scan
	out.Findings = nil
	for _, f := range scan.Findings {
		if f.Platform == platform {
			out.Findings = append(out.Findings, f)
		}
	}
	out.Image.Platforms = nil
	for _, p := range scan.Image.Platforms {
		if p.Platform == platform {
			out.Image.Platforms = append(out.Image.Platforms, p)
			out.Image.OS = p.OS
		}
	}
	return out
}

// digestPattern is a sha256 digest as the schema requires it ("sha256:<64 hex>").
var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ParseVerdict reads a verdict predicate (JSON) and checks what verify relies on, as
// verdictschema/verdict.schema.json requires it: the verdict's name, the digests, the
// policy's mode, when it was gated, the tool; the tests check that this agrees with
// the schema (package verdictschema), which the plugin does not link.
func ParseVerdict(b []byte) (Verdict, error) {
	var v Verdict
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("not a verdict predicate: %v", err)
	}
	var problem string
	switch {
	case v.Verdict != VerdictPassed && v.Verdict != VerdictWarned && v.Verdict != VerdictWarnMode && v.Verdict != VerdictBlocked:
		problem = fmt.Sprintf("verdict %q is not one of passed, warned, blocked-but-pushed-in-warn-mode, blocked", v.Verdict)
	case v.GatedAt.IsZero():
		problem = "no gatedAt"
	case !digestPattern.MatchString(v.Image.Digest):
		problem = fmt.Sprintf("image.digest %q is not sha256:<64 hex>", v.Image.Digest)
	case v.Image.Reference == "" || v.Image.ID == "":
		problem = "no image.reference or image.id"
	case !digestPattern.MatchString(v.Policy.Digest):
		problem = fmt.Sprintf("policy.digest %q is not sha256:<64 hex>", v.Policy.Digest)
	case v.Policy.Mode != string(policy.ModeBlock) && v.Policy.Mode != string(policy.ModeWarn):
		problem = fmt.Sprintf("policy.mode %q is not block or warn", v.Policy.Mode)
	case v.Policy.Block == "" || v.Policy.Source == "":
		problem = "no policy.block or policy.source"
	case v.Tool.Name != "docker-secscan":
		problem = fmt.Sprintf("tool.name %q is not docker-secscan", v.Tool.Name)
	case v.Findings == nil || v.Exceptions == nil:
		problem = "no findings or exceptions list"
	}
	if problem != "" {
		return v, fmt.Errorf("not a verdict predicate of docker secscan: %s", problem)
	}
	return v, nil
}

// scan is the recorded scan, as the policy reads it: the image, its findings, the DB.
func (v Verdict) scan() report.Scan {
	return report.Scan{
		Image:    report.Image{Reference: v.Image.Reference, ID: v.Image.ID, OS: v.Image.OS, Platforms: v.Image.Platforms},
		Findings: v.Findings, Scanner: v.Scanner, DB: v.DB,
	}
}
