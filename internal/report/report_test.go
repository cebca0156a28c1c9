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
