// Package policy decides whether an image may be pushed, from its findings and the
// gate's rules. It is pure Go: findings in, verdict out, no I/O.
//
// The rule is the one Azure's container-scan action and `trivy --exit-code 1
// --severity ...` apply: a finding at or above the severity threshold blocks.
package policy

import (
	"fmt"
	"strings"

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

// Gate holds the rules of a push gate.
type Gate struct {
	// Threshold is the lowest severity that blocks (default HIGH).
	Threshold report.Severity
	// IgnoreUnfixed exempts findings with no known fixed version from blocking, as
	// Trivy's --ignore-unfixed does. They are still reported.
	IgnoreUnfixed bool
	// Mode says whether blocking findings refuse the push or only warn.
	Mode Mode
}

// DefaultGate is the gate used when the user sets nothing: block HIGH and CRITICAL.
func DefaultGate() Gate {
	return Gate{Threshold: report.SeverityHigh, Mode: ModeBlock}
}

// Disposition is what the gate made of one finding.
type Disposition string

const (
	// Blocking: at or above the threshold; it fails the gate (in warn mode: Warning).
	Blocking Disposition = "blocking"
	// Warning: would block, but the gate is in warn mode.
	Warning Disposition = "warning"
	// Unfixed: at or above the threshold, but no fix is known and unfixed findings are exempt.
	Unfixed Disposition = "unfixed"
	// BelowThreshold: less severe than the threshold.
	BelowThreshold Disposition = "below-threshold"
)

// Decision pairs a finding with its disposition.
type Decision struct {
	Finding     report.Finding `json:"finding"`
	Disposition Disposition    `json:"disposition"`
}

// Verdict is the gate's decision for one image.
type Verdict struct {
	// Pass is true when the image may be pushed: nothing blocks, or the gate only warns.
	Pass bool `json:"pass"`
	// Blocking counts the findings that fail the gate (in warn mode: that warned).
	Blocking int `json:"blocking"`
	// Decisions holds one entry per finding, in the order the findings came.
	Decisions []Decision `json:"decisions"`
	// Summary is one line that says why the gate passed or failed.
	Summary string `json:"summary"`
}

// Evaluate applies the gate to the findings of one scan.
func (g Gate) Evaluate(findings []report.Finding) Verdict {
	v := Verdict{Decisions: make([]Decision, 0, len(findings))}
	unfixed := 0
	for _, f := range findings {
		d := BelowThreshold
		switch {
		case f.Severity < g.Threshold:
		case g.IgnoreUnfixed && !f.Fixable():
			d = Unfixed
			unfixed++
		case g.Mode == ModeWarn:
			d = Warning
			v.Blocking++
		default:
			d = Blocking
			v.Blocking++
		}
		v.Decisions = append(v.Decisions, Decision{Finding: f, Disposition: d})
	}
	v.Pass = v.Blocking == 0 || g.Mode == ModeWarn
	v.Summary = g.summary(len(findings), v.Blocking, unfixed)
	return v
}

func (g Gate) summary(total, blocking, unfixed int) string {
	rule := fmt.Sprintf("severity %s or higher", g.Threshold)
	if g.IgnoreUnfixed {
		rule += " with a fix available"
	}
	extra := ""
	if unfixed > 0 {
		extra = fmt.Sprintf("; %d more at that severity have no fix yet", unfixed)
	}
	switch {
	case blocking == 0:
		return fmt.Sprintf("passed: no vulnerability of %s (%d found in all%s)", rule, total, extra)
	case g.Mode == ModeWarn:
		return fmt.Sprintf("passed with warnings: %d %s of %s (mode warn)%s", blocking, plural(blocking, "vulnerability", "vulnerabilities"), rule, extra)
	default:
		return fmt.Sprintf("blocked: %d %s of %s%s", blocking, plural(blocking, "vulnerability", "vulnerabilities"), rule, extra)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
