package publish

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// With a baseline the event carries the counts (measurements), the source, the fixed
// IDs, and each finding's change (the identifiers are grouped by change too).
func TestEnvelopeCarriesTheBaseline(t *testing.T) {
	ev := event(3) // CVE-2024-00000 (excepted), -00001, -00002
	ev.Verdict.Decisions[1].Change = baseline.New
	ev.Verdict.Decisions[2].Change = baseline.Unchanged
	ev.Verdict.Decisions[0].Change = baseline.Unchanged
	ev.Verdict.Baseline = &policy.BaselineResult{Source: "app:main (sha256:0a1b, from the registry)", New: 1, Unchanged: 2, Fixed: 1, NewOnly: true}
	ev.Verdict.Fixed = []policy.Decision{{Finding: report.Finding{VulnerabilityID: "CVE-2020-0001"}, Disposition: policy.NotInImage, Change: baseline.Fixed}}
	cs, _ := ParseConnectionString(ikey)
	b, _ := json.Marshal(Envelope(ev, cs, time.Unix(0, 0)))
	var got struct {
		Data struct {
			BaseData struct {
				Properties   map[string]string
				Measurements map[string]float64
			}
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	m, p := got.Data.BaseData.Measurements, got.Data.BaseData.Properties
	if m["findings.new"] != 1 || m["findings.unchanged"] != 2 || m["findings.fixed"] != 1 {
		t.Fatalf("measurements %v", m)
	}
	if p["baseline.source"] != "app:main (sha256:0a1b, from the registry)" || p["baseline.newOnly"] != "true" || p["baseline.fixed"] != "CVE-2020-0001" {
		t.Fatalf("properties %v", p)
	}
	var vs struct {
		Identifiers []struct {
			Severity, Type, Change string
			Values                 []string
		}
	}
	if err := json.Unmarshal([]byte(p["vulnscan"]), &vs); err != nil {
		t.Fatal(err)
	}
	changes := map[string]string{}
	for _, id := range vs.Identifiers {
		for _, v := range id.Values {
			changes[v] = id.Change
		}
	}
	if changes["CVE-2024-00001"] != "new" || changes["CVE-2024-00002"] != "unchanged" || len(changes) != 2 {
		t.Fatalf("identifiers by change %v (%s)", changes, p["vulnscan"])
	}

	// Without a baseline: none of it.
	b, _ = json.Marshal(Envelope(event(3), cs, time.Unix(0, 0)))
	var plain struct {
		Data struct {
			BaseData struct {
				Properties   map[string]string
				Measurements map[string]float64
			}
		}
	}
	if err := json.Unmarshal(b, &plain); err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.Data.BaseData.Measurements["findings.new"]; ok || plain.Data.BaseData.Properties["baseline.source"] != "" {
		t.Fatalf("a scan without baseline carries baseline fields: %v", plain.Data.BaseData)
	}
}
