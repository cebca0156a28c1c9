package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

const example = `version: 1
gate:
  block: HIGH
  warn: MEDIUM
  only-fixed: true
  on-scan-error: block
  max-db-age: 3d
  on-stale-db: warn
  best-practices: warn
exception-rules:
  max-horizon: 90d
  warn-before: 14d
exceptions:
  - id: CVE-2019-1549
    package: libssl1.1
    reason: RNG fork issue; we never fork after init
    expires: 2027-01-31
    owner: team-platform
    ticket: SEC-42
`

func TestParseExample(t *testing.T) {
	p, err := Parse("secscan.yaml", []byte(example), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Block != report.SeverityHigh || p.Warn == nil || *p.Warn != report.SeverityMedium || !p.OnlyFixed ||
		p.MaxDBAge != 72*time.Hour || p.OnStaleDB != ActionWarn || p.MaxHorizon != 90*24*time.Hour {
		t.Fatalf("parsed %+v", p)
	}
	if len(p.Exceptions) != 1 || p.Exceptions[0].Source != "secscan.yaml:14" || p.Exceptions[0].Owner != "team-platform" {
		t.Fatalf("exceptions %+v", p.Exceptions)
	}
	if p, err := Parse("empty.yaml", nil, now); err != nil || p.Block != report.SeverityHigh {
		t.Fatalf("empty file: %+v %v", p, err)
	}
}

func TestParseErrorsNameFileLineKey(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"bad yaml", "gate:\n  block: [HIGH\n", "p.yaml:2"},
		{"unknown key", "gate:\n  blok: HIGH\n", `p.yaml:2: unknown field "blok"`},
		{"bad severity", "gate:\n  block: SEVERE\n", "p.yaml:2: gate.block: invalid severity \"SEVERE\""},
		{"warn not below block", "gate:\n  block: MEDIUM\n  warn: HIGH\n", "p.yaml:3: gate.warn"},
		{"bad action", "gate:\n  on-scan-error: ignore\n", "p.yaml:2: gate.on-scan-error"},
		{"bad duration", "gate:\n  max-db-age: soon\n", "p.yaml:2: gate.max-db-age"},
		{"missing reason", "exceptions:\n  - id: CVE-1\n    expires: 2026-12-24\n", "p.yaml:2: exceptions[0].reason: missing"},
		{"missing expiry", "exceptions:\n  - id: CVE-1\n    reason: r\n", "exceptions[0].expires: missing"},
		{"bad date", "exceptions:\n  - id: CVE-1\n    reason: r\n    expires: 2026-13-45\n", "p.yaml:4: exceptions[0].expires: \"2026-13-45\" is not a date"},
		{"beyond horizon", "exception-rules:\n  max-horizon: 30d\nexceptions:\n  - id: CVE-1\n    reason: r\n    expires: 2027-06-01\n", "p.yaml:6: exceptions[0].expires: 2027-06-01 is more than 30d away"},
		{"bad version", "version: 7\n", "p.yaml:1: version"},
		{"bad glob", "exceptions:\n  - id: CVE-1\n    reason: r\n    expires: 2026-12-24\n    path: 'a/[b'\n", "exceptions[0].path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.doc), now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestImports(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("allowedlist.yaml", "general:\n  vulnerabilities:\n    - CVE-2019-1549\n  bestPracticeViolations:\n    - CIS-DI-0005\n")
	write(".trivyignore", "# comment\nCVE-2019-14697 exp:2027-01-01\n\nCVE-2019-1551\n")
	write(".trivyignore.yaml", "vulnerabilities:\n  - id: CVE-2020-1\n    paths: ['usr/lib/**']\n    statement: not reachable\n    expired_at: 2027-02-01\n  - id: CVE-2020-2\n    purls: ['pkg:npm/lodash', 'pkg:npm/underscore']\n")
	write("vex.json", `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[
{"vulnerability":{"name":"CVE-2019-1549"},"products":[{"@id":"pkg:oci/app","subcomponents":[{"@id":"pkg:apk/alpine/libssl1.1"}]}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"},
{"vulnerability":{"name":"CVE-2019-1551"},"products":[{"@id":"pkg:oci/app"}],"status":"affected"},
{"vulnerability":"CVE-2019-14697","products":["pkg:apk/alpine/musl"],"status":"fixed"}]}`)
	write("p.yaml", "imports:\n  allowlist: allowedlist.yaml\n  trivyignore: [.trivyignore, .trivyignore.yaml]\n  vex: [vex.json]\n")
	p, err := Load(filepath.Join(dir, "p.yaml"), now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range p.Exceptions {
		ids = append(ids, e.ID+"|"+e.Package+"|"+e.Path+"|"+e.Expires.Format(time.DateOnly)+"|"+e.VEXStatus)
	}
	want := []string{
		"CVE-2019-1549|||0001-01-01|", "CIS-DI-0005|||0001-01-01|",
		"CVE-2019-14697|||2027-01-01|", "CVE-2019-1551|||0001-01-01|",
		"CVE-2020-1||usr/lib/**|2027-02-01|", "CVE-2020-2|pkg:npm/lodash||0001-01-01|", "CVE-2020-2|pkg:npm/underscore||0001-01-01|",
		"CVE-2019-1549|pkg:apk/alpine/libssl1.1||0001-01-01|not_affected", "CVE-2019-14697|pkg:apk/alpine/musl||0001-01-01|fixed",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Fatalf("imported exceptions:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(p.Exceptions[2].Source, filepath.Join(dir, ".trivyignore")+":2") {
		t.Errorf("source = %s", p.Exceptions[2].Source)
	}

	if _, err := ParseTrivyIgnore(".trivyignore", []byte("CVE-1 exp:2026-02-30\n")); err == nil || !strings.Contains(err.Error(), ".trivyignore:1") {
		t.Errorf("bad exp: %v", err)
	}
	if _, err := ParseOpenVEX("v.json", []byte(`{"@context":"https://example.com"}`)); err == nil {
		t.Error("a non-OpenVEX document was accepted")
	}
	ctx := `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[`
	for doc, want := range map[string]string{
		ctx + `{"vulnerability":{"name":"CVE-1"},"status":"fixed"}]}`:                                           "products: missing",
		ctx + `{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/app"}],"status":"not_affected"}]}`: "justification",
		`[1,2]`: "not an OpenVEX JSON document",
	} {
		if _, err := ParseOpenVEX("v.json", []byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", doc, err, want)
		}
	}
	// The last statement for a vulnerability and product wins; aliases and @id count.
	ex, err := ParseOpenVEX("v.json", []byte(ctx+`{"vulnerability":{"name":"CVE-1","aliases":["GHSA-1"]},"products":[{"@id":"pkg:oci/app"}],"status":"not_affected","justification":"component_not_present"},
{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/app"}],"status":"affected"},
{"vulnerability":{"@id":"https://nvd.nist.gov/vuln/detail/CVE-2","name":"CVE-2"},"products":[{"@id":"pkg:oci/app"}],"status":"fixed"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ex {
		got = append(got, e.ID+"|"+e.Product)
	}
	if strings.Join(got, ",") != "GHSA-1|pkg:oci/app,CVE-2|pkg:oci/app,https://nvd.nist.gov/vuln/detail/CVE-2|pkg:oci/app" {
		t.Errorf("VEX exceptions: %v", got)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), now); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("gate:\n  block: [HIGH\n"))
	f.Add([]byte("exceptions:\n  - id: CVE-1\n    expires: 2026-12-24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data, now)
		if err == nil {
			p.Evaluate(scanOf(findings()), now)
		}
	})
}

func FuzzParseTrivyIgnore(f *testing.F) {
	f.Add([]byte("CVE-1 exp:2026-01-01\n# c\nCVE-2\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseTrivyIgnore("t", data) })
}

func FuzzParseTrivyIgnoreYAML(f *testing.F) {
	f.Add([]byte("vulnerabilities:\n  - id: CVE-1\n    paths: ['a/**']\n    purls: ['pkg:npm/x']\n    expired_at: 2026-01-01\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseTrivyIgnoreYAML("t.yaml", data) })
}

func FuzzParseAllowlist(f *testing.F) {
	f.Add([]byte("general:\n  vulnerabilities:\n    - CVE-1\n  bestPracticeViolations:\n    - CIS-DI-0001\n"))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseAllowlist("a.yaml", data) })
}

func FuzzParseOpenVEX(f *testing.F) {
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:apk/alpine/x"}],"status":"fixed"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, err := ParseOpenVEX("v.json", data)
		if err == nil {
			p := Defaults()
			p.Exceptions = ex
			p.Evaluate(scanOf(findings()), now)
		}
	})
}

func TestTypeErrorsNameTheKeyNotGoTypes(t *testing.T) {
	_, err := Parse("p.yaml", []byte("gate:\n  block:\n    x: 1\n"), time.Now())
	if err == nil || strings.Contains(err.Error(), "interface") || !strings.Contains(err.Error(), "p.yaml:") {
		t.Fatalf("want a one-line error without Go type names, got %v", err)
	}
}
