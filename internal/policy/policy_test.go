package policy

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func findings() []report.Finding {
	return []report.Finding{
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-1", PkgName: "openssl", Severity: report.SeverityCritical, FixedVersion: "1.2"},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2", PkgName: "musl", Severity: report.SeverityHigh},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-3", PkgName: "zlib", Severity: report.SeverityMedium, FixedVersion: "1.3"},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-4", PkgName: "busybox", Severity: report.SeverityUnknown},
	}
}

func scanOf(f []report.Finding) report.Scan {
	return report.Scan{Image: report.Image{Reference: "registry.example.com/team/app:1"}, Findings: f, DB: report.DB{UpdatedAt: now.Add(-time.Hour)}}
}

func dispositions(v Verdict) []Disposition {
	var out []Disposition
	for _, d := range v.Decisions {
		out = append(out, d.Disposition)
	}
	return out
}

func sev(s report.Severity) *report.Severity { return &s }

func TestEvaluateSeverities(t *testing.T) {
	base := Defaults()
	tests := []struct {
		name     string
		edit     func(*Policy)
		pass     bool
		blocking int
		want     []Disposition
		summary  string
	}{
		{"default blocks high and critical", func(*Policy) {}, false, 2,
			[]Disposition{Blocking, Blocking, BelowThreshold, BelowThreshold}, "blocked: 2 blocking findings (1 CRITICAL, 1 HIGH; threshold: HIGH); also 2 below the threshold"},
		{"critical only", func(p *Policy) { p.Block = report.SeverityCritical }, false, 1,
			[]Disposition{Blocking, BelowThreshold, BelowThreshold, BelowThreshold}, "blocked: 1 blocking finding (1 CRITICAL; threshold: CRITICAL)"},
		{"warn band", func(p *Policy) { p.Warn = sev(report.SeverityMedium) }, false, 2,
			[]Disposition{Blocking, Blocking, Warning, BelowThreshold}, "also 1 MEDIUM warning, 1 below the threshold"},
		{"only fixed", func(p *Policy) { p.OnlyFixed = true }, false, 1,
			[]Disposition{Blocking, Unfixed, BelowThreshold, BelowThreshold}, "also 1 HIGH without a fix (not counted), 2 below the threshold"},
		{"warn mode passes", func(p *Policy) { p.Mode = ModeWarn }, true, 2,
			[]Disposition{Warning, Warning, BelowThreshold, BelowThreshold}, "passed with warnings: 2 findings would block (1 CRITICAL, 1 HIGH; threshold: HIGH), let through by mode warn"},
		{"unknown blocks everything", func(p *Policy) { p.Block = report.SeverityUnknown }, false, 4,
			[]Disposition{Blocking, Blocking, Blocking, Blocking}, "blocked: 4 blocking findings (1 CRITICAL, 1 HIGH, 1 MEDIUM, 1 UNKNOWN; threshold: UNKNOWN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.edit(&p)
			v := p.Evaluate(scanOf(findings()), now)
			if v.Pass != tt.pass || v.Blocking != tt.blocking {
				t.Fatalf("pass=%v blocking=%d, want pass=%v blocking=%d (%s)", v.Pass, v.Blocking, tt.pass, tt.blocking, v.Summary)
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
	v := Defaults().Evaluate(scanOf(nil), now)
	if !v.Pass || v.Blocking != 0 || !strings.HasPrefix(v.Summary, "passed") {
		t.Fatalf("empty scan: %+v", v)
	}
}

func TestExpiryBoundaries(t *testing.T) {
	day := func(s string) time.Time { t, _ := ParseExpiry(s); return t }
	ex := Exception{ID: "CVE-1", Reason: "r", Expires: day("2026-12-01"), Source: "p:1"}
	p := Defaults()
	p.Exceptions = []Exception{ex}
	f := findings()[:1]
	for _, tc := range []struct {
		at      time.Time
		applies bool
	}{
		{time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), true},                        // the day before
		{time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), true},                      // last second
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), false},                         // the day of, 00:00 UTC
		{time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), false},                         // the day after
		{time.Date(2026, 11, 30, 20, 0, 0, 0, time.FixedZone("-05", -5*3600)), false}, // 01:00 UTC on the day
		{time.Date(2026, 12, 1, 8, 0, 0, 0, time.FixedZone("+09", 9*3600)), true},     // 23:00 UTC the day before
	} {
		v := p.Evaluate(scanOf(f), tc.at)
		got := v.Decisions[0].Disposition == Excepted
		if got != tc.applies {
			t.Errorf("at %s: excepted=%v, want %v (%+v)", tc.at, got, tc.applies, v.Decisions[0])
		}
		if !tc.applies && (v.Pass || !strings.Contains(strings.Join(v.Notes, "\n"), "expired on 2026-12-01")) {
			t.Errorf("at %s: an expired exception must block and say so: %+v", tc.at, v)
		}
	}
	// An RFC 3339 expiry keeps its zone.
	tz, err := ParseExpiry("2026-12-01T09:00:00+09:00")
	if err != nil || !tz.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParseExpiry with zone = %v, %v", tz, err)
	}
}

func TestWarningWindow(t *testing.T) {
	p := Defaults()
	p.WarnBefore = 7 * 24 * time.Hour
	for _, tc := range []struct {
		expires string
		warn    bool
	}{{"2026-12-05", true}, {"2026-12-06", true}, {"2026-12-07", false}, {"2026-12-08", false}} {
		exp, _ := ParseExpiry(tc.expires)
		p.Exceptions = []Exception{{ID: "CVE-1", Reason: "r", Expires: exp, Source: "p:1"}}
		v := p.Evaluate(scanOf(findings()[:1]), now)
		warned := strings.Contains(strings.Join(v.Notes, "\n"), "expires in")
		if warned != tc.warn || v.Excepted != 1 {
			t.Errorf("expiry %s: warned=%v want %v; excepted=%d; notes %v", tc.expires, warned, tc.warn, v.Excepted, v.Notes)
		}
	}
}

func TestExceptionScopes(t *testing.T) {
	f := report.Finding{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-1549", Aliases: []string{"GHSA-xxxx"}, PkgName: "libssl1.1",
		PURL: "pkg:apk/alpine/libssl1.1@1.1.1c-r0?arch=x86_64&distro=3.9.4", PkgPath: "", Target: "img (alpine 3.9.4)", Severity: report.SeverityHigh}
	jar := report.Finding{VulnerabilityID: "CVE-9", PkgName: "log4j", PkgPath: "app/lib/log4j.jar", Severity: report.SeverityCritical}
	repo := ImageScope(report.Image{Reference: "registry.example.com/team/app:1", ID: "sha256:aaa", RepoDigests: []string{"registry.example.com/team/app@sha256:bbb"}})
	tests := []struct {
		ex   Exception
		f    report.Finding
		want bool
	}{
		{Exception{ID: "cve-2019-1549"}, f, true},
		{Exception{ID: "GHSA-xxxx"}, f, true},
		{Exception{ID: "CVE-2019-1551"}, f, false},
		{Exception{ID: "CVE-2019-1549", Package: "libssl1.1"}, f, true},
		{Exception{ID: "CVE-2019-1549", Package: "libcrypto1.1"}, f, false},
		{Exception{ID: "CVE-2019-1549", Package: "pkg:apk/alpine/libssl1.1"}, f, true},
		{Exception{ID: "CVE-2019-1549", Package: "pkg:apk/alpine/libssl1.1@1.1.1c-r0"}, f, true},
		{Exception{ID: "CVE-2019-1549", Package: "pkg:apk/alpine/libssl1.1@1.1.1d-r0"}, f, false},
		{Exception{ID: "CVE-2019-1549", Package: "pkg:apk/alpine/libssl1.1?arch=aarch64"}, f, false},
		{Exception{ID: "CVE-2019-1549", Image: "registry.example.com/team/app"}, f, true},
		{Exception{ID: "CVE-2019-1549", Image: "registry.example.com/team/other"}, f, false},
		{Exception{ID: "CVE-2019-1549", Image: "registry.example.com/team/app:1"}, f, true},
		{Exception{ID: "CVE-2019-1549", Image: "registry.example.com/team/app:2"}, f, false},
		{Exception{ID: "CVE-2019-1549", Product: "pkg:oci/app@sha256:bbb"}, f, true},
		{Exception{ID: "CVE-2019-1549", Product: "pkg:oci/app@sha256:aaa?repository_url=registry.example.com/team/app"}, f, true},
		{Exception{ID: "CVE-2019-1549", Product: "pkg:oci/app?repository_url=registry.example.com/team/other"}, f, false},
		{Exception{ID: "CVE-2019-1549", Product: "pkg:oci/totally-other-image@sha256:000"}, f, false},
		{Exception{ID: "CVE-2019-1549", Product: "pkg:oci/app@sha256:000"}, f, false},
		{Exception{ID: "CVE-2019-1549", Product: "pkg:docker/registry.example.com/team/app@1"}, f, true},
		{Exception{ID: "CVE-9", Path: "app/**/*.jar"}, jar, true},
		{Exception{ID: "CVE-9", Path: "/app/lib/log4j.jar"}, jar, true},
		{Exception{ID: "CVE-9", Path: "opt/**"}, jar, false},
	}
	for _, tt := range tests {
		if got := tt.ex.Matches(tt.f, repo); got != tt.want {
			t.Errorf("%+v matches %s = %v, want %v", tt.ex, tt.f.VulnerabilityID, got, tt.want)
		}
	}
}

func TestStaleDB(t *testing.T) {
	p := Defaults()
	p.MaxDBAge = 24 * time.Hour
	s := scanOf(nil)
	s.DB.UpdatedAt = now.Add(-49 * time.Hour)
	v := p.Evaluate(s, now)
	if v.Pass || !strings.Contains(v.Summary, "max-db-age") {
		t.Fatalf("stale DB should block: %+v", v)
	}
	p.OnStaleDB = ActionWarn
	if v := p.Evaluate(s, now); !v.Pass || len(v.Notes) == 0 {
		t.Fatalf("stale DB with on-stale-db warn should pass with a note: %+v", v)
	}
	last := func(v Verdict) string { return v.Notes[len(v.Notes)-1] }
	if v := p.Evaluate(s, now); !strings.Contains(last(v), "run 'docker secscan db update'") {
		t.Errorf("the local DB's note: %q", v.Notes)
	}
	// Through a Trivy server, updating the local DB does nothing: the server's it is.
	p.DBServer = "http://trivy.internal:4954"
	if v := p.Evaluate(s, now); !strings.Contains(last(v), "update the DB of the Trivy server http://trivy.internal:4954") || strings.Contains(last(v), "run 'docker secscan db update'") {
		t.Errorf("the server's DB note: %q", v.Notes)
	}
}

func TestBestPractices(t *testing.T) {
	bp := report.Finding{Kind: report.KindBestPractice, VulnerabilityID: "CIS-DI-0001", Aliases: []string{"AVD-DS-0002"}, Severity: report.SeverityHigh}
	for action, want := range map[Action]Disposition{ActionBlock: Blocking, ActionWarn: Warning, ActionOff: Off} {
		p := Defaults()
		p.BestPractices = action
		v := p.Evaluate(scanOf([]report.Finding{bp}), now)
		if v.Decisions[0].Disposition != want || v.Pass != (action != ActionBlock) {
			t.Errorf("best-practices %s: %+v", action, v)
		}
	}
	p := Defaults()
	p.BestPractices = ActionBlock
	p.Exceptions = []Exception{{ID: "CIS-DI-0001", Reason: "root is needed"}}
	if v := p.Evaluate(scanOf([]report.Finding{bp}), now); !v.Pass || v.Excepted != 1 {
		t.Errorf("an allowlisted check must not block: %+v", v)
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

// BenchmarkEvaluate measures the gate on a large scan (5,000 findings, 200 exceptions).
func BenchmarkEvaluate(b *testing.B) {
	var fs []report.Finding
	for i := 0; i < 5000; i++ {
		fs = append(fs, report.Finding{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2024-" + strconv.Itoa(i), PkgName: "pkg" + strconv.Itoa(i%50),
			PURL: "pkg:apk/alpine/pkg" + strconv.Itoa(i%50) + "@1.0", Severity: report.Severity(i % 5), FixedVersion: "1.1"})
	}
	p := Defaults()
	for i := 0; i < 200; i++ {
		p.Exceptions = append(p.Exceptions, Exception{ID: "CVE-2024-" + strconv.Itoa(i*7), Package: "pkg:apk/alpine/pkg" + strconv.Itoa(i%50), Reason: "r", Expires: now.Add(24 * time.Hour)})
	}
	s := scanOf(fs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Evaluate(s, now)
	}
}

func TestNoteWhenBestPracticeChecksCouldNotRun(t *testing.T) {
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	scan := report.Scan{Image: report.Image{OS: "alpine 3.19"}, Packages: 10}
	has := func(v Verdict) bool {
		for _, n := range v.Notes {
			if strings.Contains(n, "best-practice checks could not run") {
				return true
			}
		}
		return false
	}
	p := Defaults()
	if p.BestPractices == ActionOff {
		t.Fatal("the defaults check best practices")
	}
	if !has(p.Evaluate(scan, now)) {
		t.Error("no checks ran: the verdict must say so")
	}
	scan.BestPracticeChecks = 12
	if has(p.Evaluate(scan, now)) {
		t.Error("checks ran: no note")
	}
	scan.BestPracticeChecks = 0
	p.BestPractices = ActionOff
	if has(p.Evaluate(scan, now)) {
		t.Error("best practices off: no note")
	}
}

func TestWarnModeCountsWouldBlockOnce(t *testing.T) {
	p := Defaults()
	p.Mode = ModeWarn
	p.Warn = sev(report.SeverityMedium)
	v := p.Evaluate(scanOf(findings()), now)
	// CRITICAL and HIGH would block (2), MEDIUM warns (1): not 3 warnings.
	if !v.Pass || v.Blocking != 2 || v.Warnings != 1 {
		t.Fatalf("pass=%v blocking=%d warnings=%d, want true 2 1", v.Pass, v.Blocking, v.Warnings)
	}
}
