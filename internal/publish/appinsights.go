// Package publish sends scan results to Azure Application Insights as the custom event
// Azure's publish-security-assessments action sent (MS.CloudSecurity.CI.ScanResult), so
// existing workbooks keep working, plus flat ci.* properties and per-severity
// measurements. What cannot be delivered is kept in a spool folder and sent again later:
// nothing is dropped silently.
//
// The envelope is built from github.com/microsoft/ApplicationInsights-Go's contracts
// (the wire format), and posted to <IngestionEndpoint>/v2/track with net/http: the
// library's channel sends in the background and cannot tell which items failed, which
// a short-lived CLI that must not lose an event needs to know.
package publish

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/ApplicationInsights-Go/appinsights/contracts"

	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// EventName is the custom event Azure's publish-security-assessments action sent.
const EventName = "MS.CloudSecurity.CI.ScanResult"

// MaxPropertyLength is the longest custom property value Application Insights keeps;
// longer values are cut by the service.
const MaxPropertyLength = 8192

// DefaultIngestionEndpoint is used for a bare instrumentation key (the classic global
// endpoint).
const DefaultIngestionEndpoint = "https://dc.services.visualstudio.com/"

// ConnectionString is the part of an Application Insights connection string that
// matters here. Never print it: use Redacted.
type ConnectionString struct {
	InstrumentationKey string
	IngestionEndpoint  string // with a trailing slash
}

var ikeyPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParseConnectionString reads "InstrumentationKey=...;IngestionEndpoint=https://...;..."
// (Azure's format: key=value pairs separated by ";", keys case-insensitive), or a bare
// instrumentation key GUID. Errors never repeat the input, which is a secret.
func ParseConnectionString(s string) (ConnectionString, error) {
	s = strings.TrimSpace(s)
	if ikeyPattern.MatchString(s) {
		return ConnectionString{InstrumentationKey: s, IngestionEndpoint: DefaultIngestionEndpoint}, nil
	}
	var cs ConnectionString
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return cs, fmt.Errorf("the Application Insights connection string is malformed: want InstrumentationKey=...;IngestionEndpoint=...")
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "instrumentationkey":
			cs.InstrumentationKey = strings.TrimSpace(v)
		case "ingestionendpoint":
			cs.IngestionEndpoint = strings.TrimSpace(v)
		}
	}
	if cs.InstrumentationKey == "" {
		return cs, fmt.Errorf("the Application Insights connection string has no InstrumentationKey")
	}
	if cs.IngestionEndpoint == "" {
		cs.IngestionEndpoint = DefaultIngestionEndpoint
	}
	u, err := url.Parse(cs.IngestionEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return cs, fmt.Errorf("the Application Insights connection string's IngestionEndpoint is not an http(s) URL")
	}
	if !strings.HasSuffix(cs.IngestionEndpoint, "/") {
		cs.IngestionEndpoint += "/"
	}
	return cs, nil
}

// TrackURL is where envelopes are posted.
func (c ConnectionString) TrackURL() string { return c.IngestionEndpoint + "v2/track" }

// Redacted names the endpoint host and the key's last four characters, for messages.
func (c ConnectionString) Redacted() string {
	host := c.IngestionEndpoint
	if u, err := url.Parse(c.IngestionEndpoint); err == nil {
		host = u.Host
	}
	k := c.InstrumentationKey
	if len(k) > 4 {
		k = k[len(k)-4:]
	}
	return fmt.Sprintf("Application Insights at %s (key …%s)", host, k)
}

// ScanEvent is everything published about one scan.
type ScanEvent struct {
	Scan         report.Scan
	Verdict      policy.Verdict
	PolicySource string
	CI           ci.Context
	Digest       string // pushed manifest digest ("" when nothing was pushed)
	Pushed       bool
	Token        string // optional subscription token (Azure's "token"); a secret
	RequestID    string // unique per scan
}

// Envelope builds the Application Insights envelope of the event. Every property value
// is at most MaxPropertyLength characters: long lists are split into numbered
// properties (name.1, name.2, ...) so no identifier is lost, and the counts are
// measurements.
func Envelope(ev ScanEvent, cs ConnectionString, now time.Time) *contracts.Envelope {
	props := map[string]string{"__version": "0.1"}
	artifactID := ev.Digest
	if artifactID == "" {
		artifactID = ev.Scan.Image.ID
	}
	props["context"] = mustJSON(map[string]any{
		"artifactType": "containerImage", "artifactId": artifactID, "requestId": ev.RequestID, "token": ev.Token,
	})
	// additionalData keeps the two keys Azure's action sent (the ref and commit, whatever
	// the provider) and adds the branch and the pull request's number, head and merge
	// commits when the run is for one (keys left out when unknown).
	additional := map[string]string{"GITHUB_REF": ev.CI.Ref, "GITHUB_SHA": ev.CI.CommitSHA}
	for k, v := range map[string]string{"BRANCH": ev.CI.Branch, "PULL_REQUEST": ev.CI.PullRequest, "HEAD_SHA": ev.CI.HeadSHA, "MERGE_SHA": ev.CI.MergeSHA} {
		if v != "" {
			additional[k] = v
		}
	}
	props["workflow"] = mustJSON(map[string]any{
		"provider": ev.CI.Provider, "runUrl": ev.CI.RunURL, "repositoryUrl": ev.CI.RepositoryURL,
		"additionalData": additional,
	})

	// vulnscan: identifiers grouped by severity and type, as container-scan reported.
	// With a baseline, each group is also one change (new, unchanged): every finding's
	// change is in the event.
	type ident struct {
		Severity string   `json:"severity"`
		Type     string   `json:"type"`
		Change   string   `json:"change,omitempty"`
		Values   []string `json:"values"`
	}
	groups := map[[3]string][]string{}
	seen := map[[4]string]bool{}
	var allow []string
	for _, d := range ev.Verdict.Decisions {
		f := d.Finding
		if d.Disposition == policy.Excepted {
			allow = append(allow, f.VulnerabilityID)
			continue
		}
		typ := "CVE"
		if f.Kind == report.KindBestPractice {
			typ = "BestPractice"
		} else if f.Kind == report.KindSecret {
			typ = "Secret"
		} else if !strings.HasPrefix(f.VulnerabilityID, "CVE-") {
			typ = strings.SplitN(f.VulnerabilityID, "-", 2)[0]
		}
		k := [3]string{f.Severity.String(), typ, string(d.Change)}
		if !seen[[4]string{k[0], k[1], k[2], f.VulnerabilityID}] {
			seen[[4]string{k[0], k[1], k[2], f.VulnerabilityID}] = true
			groups[k] = append(groups[k], f.VulnerabilityID)
		}
	}
	keys := make([][3]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0]+"\x00"+keys[i][1]+"\x00"+keys[i][2] < keys[j][0]+"\x00"+keys[j][1]+"\x00"+keys[j][2]
	})
	var ids []ident
	for _, k := range keys {
		ids = append(ids, ident{Severity: k[0], Type: k[1], Change: k[2], Values: groups[k]})
	}
	allow = uniq(allow)
	vulnscan := map[string]any{"provider": ev.Scan.Scanner, "scanTime": ev.Scan.FinishedAt.UTC().Format(time.RFC3339), "identifiers": ids, "allowList": allow}
	if s := mustJSON(vulnscan); len(s) <= MaxPropertyLength {
		props["vulnscan"] = s
	} else {
		// Too long for one property: keep the shape with counts only, and list every
		// identifier in numbered properties.
		summary := make([]map[string]any, 0, len(ids))
		for _, id := range ids {
			group := map[string]any{"severity": id.Severity, "type": id.Type, "count": len(id.Values), "values": []string{}, "truncated": true}
			name := "vulnscan.identifiers." + id.Severity + "." + id.Type
			if id.Change != "" {
				group["change"] = id.Change
				name += "." + id.Change
			}
			summary = append(summary, group)
			split(props, name, id.Values)
		}
		props["vulnscan"] = mustJSON(map[string]any{"provider": ev.Scan.Scanner, "scanTime": vulnscan["scanTime"], "identifiers": summary, "allowListCount": len(allow), "truncated": true})
		split(props, "vulnscan.allowList", allow)
	}

	// Flat properties for queries.
	for name, p := range (&ev.CI).Fields() {
		if *p != "" {
			props["ci."+name] = *p
		}
	}
	props["image.reference"] = ev.Scan.Image.Reference
	props["image.id"] = ev.Scan.Image.ID
	if ev.Digest != "" {
		props["image.digest"] = ev.Digest
	}
	props["image.os"] = ev.Scan.Image.OS
	if u := ev.Scan.UncheckedOS(); len(u) > 0 {
		// No vulnerability data covers the OS release: its packages were not checked.
		props["image.osPackagesChecked"] = "false"
		props["image.osUnchecked"] = strings.Join(u, "; ")
	}
	props["image.pushed"] = strconv.FormatBool(ev.Pushed)
	props["scanner.version"] = ev.Scan.Scanner
	props["db.updatedAt"] = ev.Scan.DB.UpdatedAt.UTC().Format(time.RFC3339)
	props["db.schemaVersion"] = strconv.Itoa(ev.Scan.DB.SchemaVersion)
	props["policy.source"] = ev.PolicySource
	switch {
	case !ev.Verdict.Pass:
		props["policy.verdict"] = "blocked"
	case ev.Verdict.Blocking > 0: // --mode warn let would-block findings through
		props["policy.verdict"] = "warned"
	default:
		props["policy.verdict"] = "passed"
	}
	props["policy.summary"] = ev.Verdict.Summary
	var excepted []string
	for _, d := range ev.Verdict.Decisions {
		if d.Disposition == policy.Excepted && d.Exception != nil {
			excepted = append(excepted, d.Finding.VulnerabilityID+" ("+d.Exception.Source+")")
		}
	}
	excepted = uniq(excepted)
	split(props, "policy.exceptionsApplied", excepted)
	if b := ev.Verdict.Baseline; b != nil {
		// The comparison with the baseline: its source, whether only new findings
		// counted, and the findings it had that the image no longer has.
		props["baseline.source"] = b.Source
		props["baseline.newOnly"] = strconv.FormatBool(b.NewOnly)
		var fixed []string
		for _, d := range ev.Verdict.Fixed {
			fixed = append(fixed, d.Finding.VulnerabilityID)
		}
		split(props, "baseline.fixed", uniq(fixed))
	}
	for k, v := range props {
		if len(v) > MaxPropertyLength {
			props[k] = v[:MaxPropertyLength-1] + "…"
		}
	}

	meas := map[string]float64{
		"findings.total":    float64(len(ev.Scan.Findings)),
		"findings.blocking": float64(ev.Verdict.Blocking),
		"findings.warnings": float64(ev.Verdict.Warnings),
		"findings.excepted": float64(ev.Verdict.Excepted),
	}
	if b := ev.Verdict.Baseline; b != nil {
		meas["findings.new"] = float64(b.New)
		meas["findings.unchanged"] = float64(b.Unchanged)
		meas["findings.fixed"] = float64(b.Fixed)
	}
	counts := report.CountBySeverity(ev.Scan.Findings)
	for _, s := range report.Severities() {
		meas["severity."+s.String()] = float64(counts[s])
	}

	data := contracts.NewEventData()
	data.Name = EventName
	data.Properties = props
	data.Measurements = meas
	d := contracts.NewData()
	d.BaseType = data.BaseType()
	d.BaseData = data
	env := contracts.NewEnvelope()
	env.Name = data.EnvelopeName(strings.ReplaceAll(cs.InstrumentationKey, "-", ""))
	env.IKey = cs.InstrumentationKey
	env.Time = now.UTC().Format("2006-01-02T15:04:05.999999Z")
	env.Data = d
	env.Tags = map[string]string{contracts.OperationId: ev.RequestID, contracts.CloudRole: "docker-secscan"}
	return env
}

// split stores values joined by ", " under name, or, when that would be too long, under
// name.1, name.2, ... each at most MaxPropertyLength characters.
func split(props map[string]string, name string, values []string) {
	if len(values) == 0 {
		return
	}
	joined := strings.Join(values, ", ")
	if len(joined) <= MaxPropertyLength {
		props[name] = joined
		return
	}
	part, n := "", 1
	for _, v := range values {
		if len(v) > MaxPropertyLength {
			v = v[:MaxPropertyLength]
		}
		if part != "" && len(part)+2+len(v) > MaxPropertyLength {
			props[name+"."+strconv.Itoa(n)] = part
			part, n = "", n+1
		}
		if part != "" {
			part += ", "
		}
		part += v
	}
	props[name+"."+strconv.Itoa(n)] = part
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// uniq keeps the first of each value, in order.
func uniq(list []string) []string {
	seen := make(map[string]bool, len(list))
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
