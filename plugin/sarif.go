package plugin

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// sarifLevels maps a disposition to the SARIF level GitHub code scanning shows:
// what blocks is an error, what warns a warning, the rest a note.
var sarifLevels = map[policy.Disposition]string{
	policy.Blocking:       "error",
	policy.Warning:        "warning",
	policy.Unfixed:        "note",
	policy.BelowThreshold: "note",
	policy.Off:            "note",
}

// sarifDispositions rewrites the SARIF report Trivy's writer made (in the engine, which
// knows the exceptions but not the gate) so that every result carries the ID and level
// of the finding as the gate judged it, as the table shows it: a best-practice result
// is its Dockle ID (CIS-DI-0001), with Trivy's IDs as its rule's "aliases" property; the
// level is error for blocking, warning for warning, note for below-threshold, unfixed
// (or off); each result's "disposition" property names it. A failed image check that is
// no finding of ours (e.g. a DS031 failure for a variable with an empty value) is left
// out, as it is of every other report. Excepted findings are already out (Trivy's
// writer leaves out the suppressed findings).
func sarifDispositions(b []byte, v policy.Verdict) ([]byte, error) {
	rep, err := sarif.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("read the SARIF report: %v", err)
	}
	for _, run := range rep.Runs {
		oldRules := map[string]*sarif.ReportingDescriptor{}
		for _, r := range run.Tool.Driver.Rules {
			oldRules[r.ID] = r
		}
		var rules []*sarif.ReportingDescriptor
		index := map[string]int{}
		var results []*sarif.Result
		for _, res := range run.Results {
			if res.RuleID == nil {
				results = append(results, res)
				continue
			}
			old := *res.RuleID
			rule := oldRules[old]
			d, ok := sarifDecision(res, v)
			if !ok {
				if rule != nil && rule.Name != nil && *rule.Name == "Misconfiguration" {
					continue // not a finding of ours
				}
				if rule != nil {
					if _, seen := index[old]; !seen {
						index[old] = len(rules)
						rules = append(rules, rule)
					}
					i := uint(index[old])
					res.RuleIndex = &i
				}
				results = append(results, res)
				continue
			}
			id := d.Finding.VulnerabilityID
			level := sarifLevels[d.Disposition]
			res.RuleID = &id
			res.Level = &level
			if res.Properties == nil {
				res.Properties = sarif.Properties{}
			}
			res.Properties["disposition"] = string(d.Disposition)
			i, seen := index[id]
			if !seen {
				nr := &sarif.ReportingDescriptor{ID: id}
				if rule != nil {
					c := *rule
					nr = &c
					nr.ID = id
					nr.Properties = maps.Clone(rule.Properties)
					if rule.DefaultConfiguration != nil {
						dc := *rule.DefaultConfiguration
						nr.DefaultConfiguration = &dc
					}
				}
				if nr.DefaultConfiguration == nil {
					nr.DefaultConfiguration = &sarif.ReportingConfiguration{}
				}
				nr.DefaultConfiguration.Level = level
				i = len(rules)
				index[id] = i
				rules = append(rules, nr)
			}
			nr := rules[i]
			if sarifLevelRank(level) > sarifLevelRank(nr.DefaultConfiguration.Level) {
				nr.DefaultConfiguration.Level = level
			}
			var aliases []string
			if id != old {
				aliases = append(aliases, old)
			}
			for _, a := range d.Finding.Aliases {
				if a != id {
					aliases = append(aliases, a)
				}
			}
			if len(aliases) > 0 {
				if nr.Properties == nil {
					nr.Properties = sarif.Properties{}
				}
				have, _ := nr.Properties["aliases"].([]string)
				for _, a := range aliases {
					if !slices.Contains(have, a) {
						have = append(have, a)
					}
				}
				nr.Properties["aliases"] = have
			}
			u := uint(i)
			res.RuleIndex = &u
			results = append(results, res)
		}
		run.Tool.Driver.Rules = rules
		run.Results = results
	}
	var buf bytes.Buffer
	if err := rep.PrettyWrite(&buf); err != nil {
		return nil, fmt.Errorf("write the SARIF report: %v", err)
	}
	return buf.Bytes(), nil
}

func sarifLevelRank(l string) int {
	return map[string]int{"note": 1, "warning": 2, "error": 3}[l]
}

// sarifDecision finds the gate's decision for one result of Trivy's SARIF writer: the
// rule ID is the finding's ID or one of its aliases (Trivy's check ID, a secret rule),
// the message names the package and installed version of a vulnerability, and the
// message of a failed image check. When several decisions fit (one package in several
// platform images), the most severe disposition is the result's.
func sarifDecision(res *sarif.Result, v policy.Verdict) (policy.Decision, bool) {
	rule := *res.RuleID
	text := ""
	if res.Message.Text != nil {
		text = *res.Message.Text
	}
	pkg, hasPkg := messageField(text, "Package: ")
	version, _ := messageField(text, "Installed Version: ")
	msg := ""
	if i := strings.Index(text, "\nMessage: "); i >= 0 {
		msg = text[i+len("\nMessage: "):]
		if j := strings.LastIndex(msg, "\nLink: "); j >= 0 {
			msg = msg[:j]
		}
		msg = strings.Join(strings.Fields(msg), " ")
	}
	var byID, exact []policy.Decision
	for _, d := range v.Decisions {
		f := d.Finding
		if d.Disposition == policy.Excepted || (f.VulnerabilityID != rule && !slices.Contains(f.Aliases, rule)) {
			continue
		}
		byID = append(byID, d)
		switch {
		case hasPkg:
			if f.PkgName == pkg && f.InstalledVersion == version {
				exact = append(exact, d)
			}
		case msg != "":
			if f.Title == msg || strings.HasSuffix(f.Title, ": "+msg) {
				exact = append(exact, d)
			}
		}
	}
	pick := exact
	if len(pick) == 0 && !hasPkg {
		pick = byID
	}
	if len(pick) == 0 {
		return policy.Decision{}, false
	}
	best := pick[0]
	for _, d := range pick[1:] {
		if dispositionOrder[d.Disposition] < dispositionOrder[best.Disposition] {
			best = d
		}
	}
	return best, true
}

// messageField reads "Name: value" from a line of a SARIF message Trivy wrote.
func messageField(text, prefix string) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v, true
		}
	}
	return "", false
}

// sarifBaseline marks each result of a SARIF report (as sarifDispositions left it) with
// its baselineState (SARIF 2.1.0 §3.27.24) when the scan was compared with a baseline:
// "new" or "unchanged" from the finding's change (a result no finding of ours matches
// is "new": fail closed), and adds one result of baselineState "absent" for each of the
// baseline's findings the image no longer has (kind "pass", level "none": the problem is
// gone), with its rule, at the file of a language package or secret, else where the
// image's own results are. Each result's "change" property says the same. The run gets a
// "baseline" property with the source and the counts; there is no baselineGuid, since
// the baseline is not a SARIF run. image is the scanned image's reference.
func sarifBaseline(b []byte, v policy.Verdict, image string) ([]byte, error) {
	if v.Baseline == nil {
		return b, nil
	}
	rep, err := sarif.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("read the SARIF report: %v", err)
	}
	for _, run := range rep.Runs {
		imageURI := sarifImagePath(image)
		for _, res := range run.Results {
			state := string(baseline.New)
			if res.RuleID != nil {
				if d, ok := sarifDecision(res, v); ok && d.Change == baseline.Unchanged {
					state = string(baseline.Unchanged)
				}
			}
			res.BaselineState = &state
			if res.Properties == nil {
				res.Properties = sarif.Properties{}
			}
			res.Properties["change"] = state
			if len(res.Locations) > 0 && res.Locations[0].PhysicalLocation != nil && res.Locations[0].PhysicalLocation.ArtifactLocation != nil &&
				res.Locations[0].PhysicalLocation.ArtifactLocation.URI != nil && res.Properties["disposition"] != nil {
				if d, ok := sarifDecision(res, v); ok && d.Finding.PkgPath == "" && d.Finding.Kind != report.KindSecret {
					imageURI = *res.Locations[0].PhysicalLocation.ArtifactLocation.URI
				}
			}
		}
		index := map[string]uint{}
		for i, r := range run.Tool.Driver.Rules {
			index[r.ID] = uint(i)
		}
		for _, d := range v.Fixed {
			f := d.Finding
			id := f.VulnerabilityID
			i, ok := index[id]
			if !ok {
				rule := sarif.NewRule(id)
				rule.ShortDescription = sarif.NewMultiformatMessageString(f.Title)
				rule.DefaultConfiguration = &sarif.ReportingConfiguration{Level: "none"}
				i = uint(len(run.Tool.Driver.Rules))
				index[id] = i
				run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
			}
			uri := imageURI
			if p := strings.TrimLeft(f.PkgPath, "/"); p != "" {
				uri = p
			}
			text := fmt.Sprintf("Fixed: %s in %s %s is no longer in the image (the baseline %s has it)", id, f.Location(), f.InstalledVersion, v.Baseline.Source)
			res := sarif.NewRuleResult(id).WithKind("pass").WithLevel("none").WithBaselineState("absent").WithMessage(sarif.NewTextMessage(strings.Join(strings.Fields(text), " ")))
			res.RuleIndex = &i
			res.Locations = []*sarif.Location{{PhysicalLocation: &sarif.PhysicalLocation{ArtifactLocation: &sarif.ArtifactLocation{URI: &uri}}}}
			res.Properties = sarif.Properties{"disposition": string(policy.NotInImage), "change": string(baseline.Fixed)}
			run.Results = append(run.Results, res)
		}
		if run.Properties == nil {
			run.Properties = sarif.Properties{}
		}
		run.Properties["baseline"] = map[string]any{"source": v.Baseline.Source, "new": v.Baseline.New, "unchanged": v.Baseline.Unchanged, "fixed": v.Baseline.Fixed}
	}
	var buf bytes.Buffer
	if err := rep.PrettyWrite(&buf); err != nil {
		return nil, fmt.Errorf("write the SARIF report: %v", err)
	}
	return buf.Bytes(), nil
}

// sarifImagePath is a relative URI for the image when no result of the report gives
// one: its repository path ("team/app"), as Trivy's writer names OS-package results.
func sarifImagePath(ref string) string {
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		return reference.Path(named)
	}
	return "image"
}
