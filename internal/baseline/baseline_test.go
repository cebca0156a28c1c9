package baseline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

func osVuln(id, pkg, version string) report.Finding {
	return report.Finding{Kind: report.KindVulnerability, VulnerabilityID: id, PkgName: pkg, InstalledVersion: version,
		Class: "os-pkgs", Type: "alpine", Target: "app:1 (alpine 3.10.4)", Severity: report.SeverityHigh}
}

func langVuln(id, pkg, version, path string, aliases ...string) report.Finding {
	return report.Finding{Kind: report.KindVulnerability, VulnerabilityID: id, Aliases: aliases, PkgName: pkg, InstalledVersion: version,
		PkgPath: path, Class: LangPkgs, Type: "node-pkg", Target: "Node.js", Severity: report.SeverityCritical}
}

func changes(c Comparison) []Change { return c.Changes }

func TestCompare(t *testing.T) {
	tests := []struct {
		name      string
		current   []report.Finding
		base      []report.Finding
		want      []Change
		wantFixed []string // IDs of the fixed findings
	}{
		{
			name:    "an upgrade that keeps the CVE is unchanged, whatever the versions",
			current: []report.Finding{osVuln("CVE-2019-1551", "libssl1.1", "1.1.1d-r0")},
			base:    []report.Finding{osVuln("CVE-2019-1551", "libssl1.1", "1.1.1c-r0")},
			want:    []Change{Unchanged},
		},
		{
			name: "another distribution release keeps an OS package's finding unchanged",
			current: []report.Finding{func() report.Finding {
				f := osVuln("CVE-1", "musl", "1.2")
				f.Target = "app:2 (alpine 3.11.5)"
				return f
			}()},
			base: []report.Finding{osVuln("CVE-1", "musl", "1.1")},
			want: []Change{Unchanged},
		},
		{
			name:      "the same CVE in another package is new, and the old one fixed",
			current:   []report.Finding{osVuln("CVE-2019-1551", "libcrypto1.1", "1.1.1c-r0")},
			base:      []report.Finding{osVuln("CVE-2019-1551", "libssl1.1", "1.1.1c-r0")},
			want:      []Change{New},
			wantFixed: []string{"CVE-2019-1551"},
		},
		{
			name:      "another CVE in the same package is new",
			current:   []report.Finding{osVuln("CVE-2", "musl", "1.1")},
			base:      []report.Finding{osVuln("CVE-1", "musl", "1.1")},
			want:      []Change{New},
			wantFixed: []string{"CVE-1"},
		},
		{
			name:    "IDs compare case-insensitively",
			current: []report.Finding{osVuln("cve-1", "musl", "1.1")},
			base:    []report.Finding{osVuln("CVE-1", "musl", "1.1")},
			want:    []Change{Unchanged},
		},
		{
			name:    "a language package at the same path is unchanged after an upgrade",
			current: []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.11", "app/node_modules/lodash/package.json")},
			base:    []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "/app/node_modules/lodash/package.json")},
			want:    []Change{Unchanged},
		},
		{
			name: "the same language package vendored at a second path is new there",
			current: []report.Finding{
				langVuln("CVE-2019-10744", "lodash", "4.17.4", "app/node_modules/lodash/package.json"),
				langVuln("CVE-2019-10744", "lodash", "4.17.4", "srv/node_modules/lodash/package.json"),
			},
			base: []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "app/node_modules/lodash/package.json")},
			want: []Change{Unchanged, New},
		},
		{
			name:      "a language package that moved is new at its new path and fixed at the old",
			current:   []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "srv/node_modules/lodash/package.json")},
			base:      []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "app/node_modules/lodash/package.json")},
			want:      []Change{New},
			wantFixed: []string{"CVE-2019-10744"},
		},
		{
			name: "a lock-file result has no package path: its target is the path",
			current: []report.Finding{func() report.Finding {
				f := langVuln("CVE-9", "requests", "2.0", "")
				f.Target = "app/poetry.lock [linux/arm64]"
				return f
			}()},
			base: []report.Finding{func() report.Finding {
				f := langVuln("CVE-9", "requests", "1.0", "")
				f.Target = "app/poetry.lock"
				return f
			}()},
			want: []Change{Unchanged},
		},
		{
			name: "an OS package and a language package of one name are different packages",
			current: []report.Finding{func() report.Finding {
				f := langVuln("CVE-3", "openssl", "1", "usr/lib/python3/site-packages/openssl/METADATA")
				return f
			}()},
			base:      []report.Finding{osVuln("CVE-3", "openssl", "1")},
			want:      []Change{New},
			wantFixed: []string{"CVE-3"},
		},
		{
			name:    "an advisory the baseline knew by its GHSA ID, now under its CVE with the GHSA ID as alias, is unchanged",
			current: []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "app/node_modules/lodash/package.json", "GHSA-jf85-cpcp-j695")},
			base:    []report.Finding{langVuln("GHSA-jf85-cpcp-j695", "lodash", "4.17.4", "app/node_modules/lodash/package.json")},
			want:    []Change{Unchanged},
		},
		{
			name:    "and the other way round: the baseline's alias matches the current ID",
			current: []report.Finding{langVuln("GHSA-jf85-cpcp-j695", "lodash", "4.17.4", "app/node_modules/lodash/package.json")},
			base:    []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "app/node_modules/lodash/package.json", "GHSA-jf85-cpcp-j695")},
			want:    []Change{Unchanged},
		},
		{
			name:      "different GHSA and CVE IDs with no alias between them do not match",
			current:   []report.Finding{langVuln("CVE-2019-10744", "lodash", "4.17.4", "app/node_modules/lodash/package.json")},
			base:      []report.Finding{langVuln("GHSA-jf85-cpcp-j695", "lodash", "4.17.4", "app/node_modules/lodash/package.json")},
			want:      []Change{New},
			wantFixed: []string{"GHSA-jf85-cpcp-j695"},
		},
		{
			name: "a best-practice check matches by any of its IDs (Dockle ID, Trivy's AVD ID)",
			current: []report.Finding{{Kind: report.KindBestPractice, VulnerabilityID: "CIS-DI-0001", Aliases: []string{"DS-0002", "DS002", "AVD-DS-0002"},
				Target: "app:2"}},
			base: []report.Finding{{Kind: report.KindBestPractice, VulnerabilityID: "DS002", Aliases: []string{"AVD-DS-0002"}, Target: "app:1"}},
			want: []Change{Unchanged},
		},
		{
			name: "a secret matches by rule and file, not by line",
			current: []report.Finding{
				{Kind: report.KindSecret, VulnerabilityID: "aws-access-key-id", PkgPath: "app/.env", StartLine: 7},
				{Kind: report.KindSecret, VulnerabilityID: "aws-access-key-id", PkgPath: "app/other.env", StartLine: 1},
			},
			base: []report.Finding{{Kind: report.KindSecret, VulnerabilityID: "aws-access-key-id", PkgPath: "/app/.env", StartLine: 3}},
			want: []Change{Unchanged, New},
		},
		{
			name: "one baseline finding matches the same finding in two platform images",
			current: []report.Finding{
				func() report.Finding { f := osVuln("CVE-1", "musl", "1.1"); f.Platform = "linux/amd64"; return f }(),
				func() report.Finding { f := osVuln("CVE-1", "musl", "1.1"); f.Platform = "linux/arm64"; return f }(),
			},
			base: []report.Finding{osVuln("CVE-1", "musl", "1.1")},
			want: []Change{Unchanged, Unchanged},
		},
		{
			name:      "an empty image against a baseline: everything fixed",
			current:   nil,
			base:      []report.Finding{osVuln("CVE-1", "musl", "1.1"), osVuln("CVE-2", "musl", "1.1")},
			want:      []Change{},
			wantFixed: []string{"CVE-1", "CVE-2"},
		},
		{
			name:    "an empty baseline: everything new",
			current: []report.Finding{osVuln("CVE-1", "musl", "1.1")},
			want:    []Change{New},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(tt.current, Baseline{Source: "test", Findings: tt.base})
			if !slices.Equal(changes(c), tt.want) {
				t.Fatalf("changes = %v, want %v", c.Changes, tt.want)
			}
			var fixed []string
			for _, f := range c.Fixed {
				fixed = append(fixed, f.VulnerabilityID)
			}
			if !slices.Equal(fixed, tt.wantFixed) {
				t.Fatalf("fixed = %v, want %v", fixed, tt.wantFixed)
			}
			n, u := 0, 0
			for _, ch := range tt.want {
				if ch == New {
					n++
				} else {
					u++
				}
			}
			if c.New != n || c.Unchanged != u || c.FixedN != len(tt.wantFixed) || c.Source != "test" {
				t.Fatalf("counts %+v, want %d new, %d unchanged, %d fixed", c, n, u, len(tt.wantFixed))
			}
		})
	}
}

func TestSummary(t *testing.T) {
	c := Compare([]report.Finding{osVuln("CVE-1", "musl", "1"), osVuln("CVE-2", "musl", "1"), osVuln("CVE-3", "zlib", "1")},
		Baseline{Findings: []report.Finding{osVuln("CVE-3", "zlib", "0"), osVuln("CVE-4", "zlib", "0")}})
	if got, want := c.Summary(), "2 new, 1 unchanged, 1 fixed"; got != want {
		t.Fatalf("Summary() = %q, want %q", got, want)
	}
}

const secscanReport = `{
  "schemaVersion": 1,
  "image": {"reference": "app:1", "id": "sha256:aa"},
  "verdict": {"pass": false, "summary": "blocked"},
  "findings": [
    {"finding": {"kind": "vulnerability", "vulnerabilityID": "CVE-2019-1551", "pkgName": "libssl1.1", "installedVersion": "1.1.1c-r0", "severity": "MEDIUM", "target": "app:1 (alpine 3.10.4)", "class": "os-pkgs", "type": "alpine"}, "disposition": "below-threshold", "change": "unchanged"},
    {"finding": {"kind": "secret", "vulnerabilityID": "github-pat", "pkgPath": "app/.env", "startLine": 2, "severity": "CRITICAL", "target": "app/.env", "class": "secret", "type": "GitHub"}, "disposition": "excepted"},
    {"finding": {"kind": "vulnerability", "vulnerabilityID": "CVE-2000-1", "pkgName": "zlib", "severity": "HIGH", "target": "app:0", "class": "os-pkgs"}, "disposition": "fixed", "change": "fixed"}
  ]
}`

// A Trivy v0.74 JSON report, cut down to the fields a baseline reads and a few it does
// not (as trivy image -f json writes them).
const trivyReportJSON = `{
  "SchemaVersion": 2,
  "CreatedAt": "2026-01-01T00:00:00Z",
  "ArtifactName": "app:1",
  "ArtifactType": "container_image",
  "Metadata": {"OS": {"Family": "alpine", "Name": "3.10.4"}},
  "Results": [
    {"Target": "app:1 (alpine 3.10.4)", "Class": "os-pkgs", "Type": "alpine",
     "Vulnerabilities": [{"VulnerabilityID": "CVE-2019-1551", "VendorIDs": ["ALPINE-1"], "PkgID": "libssl1.1@1.1.1c-r0", "PkgName": "libssl1.1",
       "PkgIdentifier": {"PURL": "pkg:apk/alpine/libssl1.1@1.1.1c-r0?arch=x86_64&distro=3.10.4", "UID": "x"},
       "InstalledVersion": "1.1.1c-r0", "FixedVersion": "1.1.1d-r2", "Status": "fixed", "Severity": "MEDIUM", "Title": "openssl: overflow"}]},
    {"Target": "Node.js", "Class": "lang-pkgs", "Type": "node-pkg",
     "Vulnerabilities": [{"VulnerabilityID": "CVE-2019-10744", "VendorIDs": ["GHSA-jf85-cpcp-j695"], "PkgName": "lodash", "PkgPath": "app/node_modules/lodash/package.json",
       "InstalledVersion": "4.17.4", "FixedVersion": "4.17.12", "Severity": "CRITICAL"}]},
    {"Target": "app:1", "Class": "config", "Type": "dockerfile",
     "Misconfigurations": [{"ID": "DS002", "AVDID": "AVD-DS-0002", "Title": "Image user should not be 'root'", "Severity": "HIGH", "Status": "FAIL"},
                           {"ID": "DS026", "AVDID": "AVD-DS-0026", "Title": "No HEALTHCHECK defined", "Severity": "LOW", "Status": "PASS"}]},
    {"Target": "app/.env", "Class": "secret", "Secrets": [{"RuleID": "github-pat", "Category": "GitHub", "Severity": "CRITICAL", "Title": "GitHub Personal Access Token", "StartLine": 2}]}
  ]
}`

func TestParse(t *testing.T) {
	f, format, err := Parse([]byte(secscanReport))
	if err != nil || format != FormatSecscanJSON {
		t.Fatalf("secscan-json: %v, %q", err, format)
	}
	var got []string
	for _, x := range f {
		got = append(got, x.Kind+" "+x.VulnerabilityID+" "+x.PkgName+x.PkgPath)
	}
	if want := []string{"vulnerability CVE-2019-1551 libssl1.1", "secret github-pat app/.env"}; !slices.Equal(got, want) {
		t.Fatalf("secscan-json findings = %q, want %q (a finding reported fixed is not in that image)", got, want)
	}

	f, format, err = Parse([]byte(trivyReportJSON))
	if err != nil || format != FormatTrivyJSON {
		t.Fatalf("Trivy JSON: %v, %q", err, format)
	}
	got = nil
	for _, x := range f {
		got = append(got, x.Kind+" "+x.VulnerabilityID+" "+strings.Join(x.Aliases, ",")+" "+x.PkgName+x.PkgPath+" "+x.Class+" "+x.Severity.String())
	}
	want := []string{
		"vulnerability CVE-2019-1551 ALPINE-1 libssl1.1 os-pkgs MEDIUM",
		"vulnerability CVE-2019-10744 GHSA-jf85-cpcp-j695 lodashapp/node_modules/lodash/package.json lang-pkgs CRITICAL",
		"best-practice DS002 AVD-DS-0002  config HIGH",
		"secret github-pat  app/.env secret CRITICAL",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Trivy findings =\n%q\nwant\n%q", got, want)
	}

	// The two formats of one image compare as the same findings.
	sec, _, _ := Parse([]byte(secscanReport))
	c := Compare(sec, Baseline{Findings: f})
	if !slices.Equal(c.Changes, []Change{Unchanged, Unchanged}) {
		t.Fatalf("secscan-json against Trivy JSON of the same image: %v", c.Changes)
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":                   `garbage {`,
		"truncated":                  secscanReport[:200],
		"another JSON document":      `{"bomFormat": "CycloneDX", "specVersion": "1.6"}`,
		"SARIF":                      `{"version": "2.1.0", "runs": []}`,
		"secscan-json of version 9":  `{"schemaVersion": 9, "verdict": {}, "findings": []}`,
		"Trivy schema 1":             `{"SchemaVersion": 1, "ArtifactName": "x", "Results": []}`,
		"findings without IDs":       `{"schemaVersion": 1, "verdict": {}, "findings": [{"finding": {"pkgName": "x"}}]}`,
		"findings of the wrong type": `{"schemaVersion": 1, "verdict": {}, "findings": {"a": 1}}`,
	} {
		if _, _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", name, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "base.json")
	if err := os.WriteFile(good, []byte(trivyReportJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(good)
	if err != nil || len(b.Findings) != 4 || b.Source != good+" (json)" {
		t.Fatalf("ReadFile: %+v, %v", b, err)
	}
	bad := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(bad, []byte(trivyReportJSON[:300]), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.json"): "no such file",
		bad:                                "not a JSON report",
		dir:                                "is a folder",
	} {
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "baseline "+path) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ReadFile(%s) = %v, want one line naming the file and %q", path, err, want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "base")
	if err := os.WriteFile(existing, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for arg, want := range map[string]Spec{
		"auto":                               {Kind: KindAuto},
		existing:                             {Kind: KindFile, Value: existing},
		"missing-report.json":                {Kind: KindFile, Value: "missing-report.json"},
		"file:app:1":                         {Kind: KindFile, Value: "app:1"},
		"app:1":                              {Kind: KindImage, Value: "app:1"},
		"registry.example.com/team/app:main": {Kind: KindImage, Value: "registry.example.com/team/app:main"},
		"local:app:1":                        {Kind: KindImage, Value: "app:1", Where: WhereLocal},
		"registry:127.0.0.1:5000/app:1":      {Kind: KindImage, Value: "127.0.0.1:5000/app:1", Where: WhereRegistry},
	} {
		got, err := ParseSpec(arg, os.Stat)
		if err != nil || got != want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, arg := range []string{"", "  ", "Not An Image", "registry:app:bad tag", "local:"} {
		if _, err := ParseSpec(arg, os.Stat); err == nil {
			t.Errorf("ParseSpec(%q): no error", arg)
		}
	}
	if s, _ := ParseSpec("registry:app:1", os.Stat); s.String() != "registry:app:1" {
		t.Errorf("String() = %q", s.String())
	}
}

func TestTrialInputs(t *testing.T) {
	// A JSON list is not a report, and the message names no Go type.
	if _, _, err := Parse([]byte(`[1,2]`)); err == nil || strings.Contains(err.Error(), "map[") || strings.Contains(err.Error(), "jsontext") || !strings.Contains(err.Error(), "not a report") {
		t.Fatalf("list: %v", err)
	}
	// A full image ID without "sha256:" is the local image of that ID.
	id := strings.Repeat("ab", 32)
	s, err := ParseSpec(id, func(string) (os.FileInfo, error) { return nil, os.ErrNotExist })
	if err != nil || s.Kind != KindImage || s.Value != "sha256:"+id || s.Where != WhereLocal {
		t.Fatalf("64 hex: %+v %v", s, err)
	}
}
