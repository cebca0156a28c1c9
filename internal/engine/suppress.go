package engine

import (
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Suppressions lists the findings a verdict excepted, for Trivy's writers: VEX
// statements as "not_affected", other exceptions as "ignored" (Trivy's FindingStatus
// values). The plugin and the engine derive them the same way, so a report rendered
// in the scan's engine process equals one rendered later.
func Suppressions(v policy.Verdict) []Suppression {
	var out []Suppression
	for _, d := range v.Decisions {
		if d.Disposition != policy.Excepted || d.Exception == nil {
			continue
		}
		status := "ignored"
		if d.Exception.VEXStatus != "" {
			status = "not_affected"
		}
		out = append(out, Suppression{Finding: d.Finding, Status: status, Statement: d.Exception.Reason, Source: d.Exception.Source})
	}
	return out
}

// ExceptedBy computes the suppressions of a scan under the given exceptions at time
// now. Only exceptions decide what is excepted (not severities or modes), so this
// equals Suppressions of the plugin's full verdict.
func ExceptedBy(exceptions []policy.Exception, scan report.Scan, now ScanTime) []Suppression {
	p := policy.Defaults()
	p.Exceptions = exceptions
	return Suppressions(p.Evaluate(scan, now.Time))
}
