package policy

import (
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

func findings() []report.Finding {
	return []report.Finding{
		{VulnerabilityID: "CVE-1", Severity: report.SeverityCritical, FixedVersion: "1.2"},
		{VulnerabilityID: "CVE-2", Severity: report.SeverityHigh},
		{VulnerabilityID: "CVE-3", Severity: report.SeverityMedium, FixedVersion: "1.3"},
		{VulnerabilityID: "CVE-4", Severity: report.SeverityUnknown},
	}
}

func dispositions(v Verdict) []Disposition {
	var out []Disposition
	for _, d := range v.Decisions {
		out = append(out, d.Disposition)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		gate     Gate
		pass     bool
		blocking int
		want     []Disposition
		summary  string
	}{
		{"default blocks high and critical", DefaultGate(), false, 2,
			[]Disposition{Blocking, Blocking, BelowThreshold, BelowThreshold}, "blocked: 2 vulnerabilities of severity HIGH or higher"},
		{"critical only", Gate{Threshold: report.SeverityCritical, Mode: ModeBlock}, false, 1,
			[]Disposition{Blocking, BelowThreshold, BelowThreshold, BelowThreshold}, "blocked: 1 vulnerability"},
		{"ignore unfixed", Gate{Threshold: report.SeverityHigh, IgnoreUnfixed: true, Mode: ModeBlock}, false, 1,
			[]Disposition{Blocking, Unfixed, BelowThreshold, BelowThreshold}, "1 more at that severity have no fix yet"},
		{"warn mode passes", Gate{Threshold: report.SeverityHigh, Mode: ModeWarn}, true, 2,
			[]Disposition{Warning, Warning, BelowThreshold, BelowThreshold}, "passed with warnings"},
		{"unknown threshold blocks everything", Gate{Threshold: report.SeverityUnknown, Mode: ModeBlock}, false, 4,
			[]Disposition{Blocking, Blocking, Blocking, Blocking}, "blocked: 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.gate.Evaluate(findings())
			if v.Pass != tt.pass || v.Blocking != tt.blocking {
				t.Fatalf("pass=%v blocking=%d, want pass=%v blocking=%d", v.Pass, v.Blocking, tt.pass, tt.blocking)
			}
			got := dispositions(v)
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Fatalf("dispositions = %v, want %v", got, tt.want)
				}
			}
			if !strings.Contains(v.Summary, tt.summary) {
				t.Fatalf("summary %q does not contain %q", v.Summary, tt.summary)
			}
		})
	}
}

func TestEvaluateNoFindings(t *testing.T) {
	v := DefaultGate().Evaluate(nil)
	if !v.Pass || v.Blocking != 0 || !strings.HasPrefix(v.Summary, "passed") {
		t.Fatalf("empty scan: %+v", v)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"block": ModeBlock, "WARN": ModeWarn} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("audit"); err == nil || !strings.Contains(err.Error(), `"audit"`) {
		t.Errorf("ParseMode(audit) error = %v", err)
	}
}
