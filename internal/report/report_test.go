package report

import "testing"

func TestParseSeverity(t *testing.T) {
	for i, name := range []string{"unknown", "Low", "MEDIUM", "high", " critical "} {
		got, err := ParseSeverity(name)
		if err != nil || got != Severity(i) {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", name, got, err, Severity(i))
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity(severe) gave no error")
	}
	if SeverityHigh.String() != "HIGH" || Severity(9).String() != "UNKNOWN" {
		t.Error("String() is wrong")
	}
}

func TestCountBySeverity(t *testing.T) {
	c := CountBySeverity([]Finding{{Severity: SeverityHigh}, {Severity: SeverityHigh}, {Severity: SeverityLow}})
	if c[SeverityHigh] != 2 || c[SeverityLow] != 1 || c[SeverityCritical] != 0 {
		t.Errorf("counts = %v", c)
	}
}

func TestScanRenameFollowsTrivyTargets(t *testing.T) {
	s := Scan{Image: Image{Reference: "alpine:3.9"}, Findings: []Finding{
		{Target: "alpine:3.9 (alpine 3.9.4)"}, {Target: "alpine:3.9"}, {Target: "usr/lib/app/package.json"},
	}}
	orig := s.Findings
	s.Rename("reg.example/app:1")
	want := []string{"reg.example/app:1 (alpine 3.9.4)", "reg.example/app:1", "usr/lib/app/package.json"}
	for i, f := range s.Findings {
		if f.Target != want[i] {
			t.Errorf("target %d: %q, want %q", i, f.Target, want[i])
		}
	}
	if s.Image.Reference != "reg.example/app:1" || orig[0].Target != "alpine:3.9 (alpine 3.9.4)" {
		t.Errorf("reference %q; the original findings must stay as they were: %q", s.Image.Reference, orig[0].Target)
	}
}
