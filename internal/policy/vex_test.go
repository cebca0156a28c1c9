package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// alpine39Musl is what Trivy reports for musl and musl-utils in images/alpine-39.tar.gz.
func alpine39Musl() report.Scan {
	mk := func(pkg string) report.Finding {
		return report.Finding{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-14697", PkgName: pkg, InstalledVersion: "1.1.20-r4",
			PURL: "pkg:apk/alpine/" + pkg + "@1.1.20-r4?arch=x86_64&distro=3.9.4", Severity: report.SeverityCritical,
			Target: "alpine-39:latest (alpine 3.9.4)", Class: "os-pkgs", Type: "alpine"}
	}
	return report.Scan{
		Image: report.Image{Reference: "registry.example.com/team/app:1", ID: "sha256:0559369dbbf1e8a3b6ff1a1b4e8a8e7e9f1f3c1d2b3a4c5d6e7f8a9b0c1d2e3f",
			RepoDigests: []string{"registry.example.com/team/app@sha256:aaaa"}},
		Findings: []report.Finding{mk("musl"), mk("musl-utils")},
	}
}

func excepted(t *testing.T, ex []Exception, notes []string, scan report.Scan) []string {
	t.Helper()
	p := Defaults()
	p.Exceptions = ex
	p.Imported = []ImportedFile{{Notes: notes}}
	v := p.Evaluate(scan, now)
	var out []string
	for _, d := range v.Decisions {
		if d.Disposition == Excepted {
			out = append(out, d.Finding.PkgName)
		}
	}
	return out
}

// TestCaseOpenVEXProductIdentifiers is cases/openvex-product-identifiers: a product
// whose @id is an https IRI and whose purl is in identifiers suppresses musl (and only
// musl); the control document (purl as @id) gives the same.
func TestCaseOpenVEXProductIdentifiers(t *testing.T) {
	dir := filepath.Join(testdata(t), "cases", "openvex-product-identifiers")
	for _, doc := range []string{"app.openvex.json", "control-purl-id.openvex.json"} {
		ex, rec, err := LoadImport(Import{Path: filepath.Join(dir, doc), Format: FormatOpenVEX})
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if len(rec.Notes) != 0 {
			t.Errorf("%s: notes %v", doc, rec.Notes)
		}
		if got := excepted(t, ex, nil, alpine39Musl()); strings.Join(got, ",") != "musl" {
			t.Errorf("%s: excepted %v, want musl only", doc, got)
		}
	}
}

func vexDoc(statements string) []byte {
	return []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.invalid/vex/1","author":"t","timestamp":"2026-01-01T00:00:00Z","version":1,"statements":[` + statements + `]}`)
}

// TestOpenVEXComponentsAsTheSpecDefines: @id, identifiers (purl, cpe23, cpe22) and
// hashes, on products and subcomponents; what cannot be matched is a note, never an
// error.
func TestOpenVEXComponentsAsTheSpecDefines(t *testing.T) {
	const na = `"status":"not_affected","justification":"component_not_present"`
	const v = `"vulnerability":{"name":"CVE-2019-14697"}`
	tests := []struct {
		name      string
		products  string
		excepted  string
		noteAbout string // a note must mention this ("" : no note)
	}{
		{"purl identifier with version and qualifiers", `[{"@id":"urn:uuid:1","identifiers":{"purl":"pkg:apk/alpine/musl@1.1.20-r4?arch=x86_64"}}]`, "musl", ""},
		{"purl identifier of another version", `[{"identifiers":{"purl":"pkg:apk/alpine/musl@1.2.0-r0"}}]`, "", ""},
		{"purl identifier of another type", `[{"identifiers":{"purl":"pkg:deb/debian/musl"}}]`, "", ""},
		{"v0.0.1 string product", `["pkg:apk/alpine/musl-utils"]`, "musl-utils", ""},
		{"image by identifiers.purl with a subcomponent by identifiers.purl",
			`[{"@id":"https://example.invalid/app","identifiers":{"purl":"pkg:oci/app?repository_url=registry.example.com/team/app"},"subcomponents":[{"@id":"https://example.invalid/musl","identifiers":{"purl":"pkg:apk/alpine/musl"}}]}]`, "musl", ""},
		{"another image by identifiers.purl", `[{"identifiers":{"purl":"pkg:oci/other?repository_url=registry.example.com/team/other"},"subcomponents":[{"@id":"pkg:apk/alpine/musl"}]}]`, "", ""},
		{"image by its sha-256 hash (the image ID)", `[{"hashes":{"sha-256":"0559369dbbf1e8a3b6ff1a1b4e8a8e7e9f1f3c1d2b3a4c5d6e7f8a9b0c1d2e3f"},"subcomponents":[{"@id":"pkg:apk/alpine/musl-utils"}]}]`, "musl-utils", ""},
		{"image by the hash of a repository digest", `[{"hashes":{"sha-256":"aaaa"}}]`, "musl,musl-utils", ""},
		{"image by another hash", `[{"hashes":{"sha-256":"bbbb"}}]`, "", ""},
		{"CPE only: a note", `[{"@id":"https://example.invalid/musl","identifiers":{"cpe23":"cpe:2.3:a:musl-libc:musl:1.1.20:*:*:*:*:*:*:*"}}]`, "", "CPE"},
		{"IRI only: a note", `[{"@id":"https://example.invalid/components/musl-runtime"}]`, "", "not a purl"},
		{"subcomponent by hash only: a note, the others apply",
			`[{"@id":"pkg:oci/app","subcomponents":[{"hashes":{"sha-256":"cccc"}},{"@id":"pkg:apk/alpine/musl"}]}]`, "musl", "hashes only"},
		{"an IRI product with purl subcomponents cannot be tied to the image: a note",
			`[{"@id":"https://example.invalid/product","subcomponents":[{"@id":"pkg:apk/alpine/musl"}]}]`, "", "not a purl"},
		{"one of several identifiers", `[{"@id":"https://example.invalid/m","identifiers":{"cpe23":"cpe:2.3:a:musl-libc:musl:*:*:*:*:*:*:*:*","purl":"pkg:apk/alpine/musl"}}]`, "musl", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex, notes, err := ParseOpenVEXNotes("v.json", vexDoc(`{`+v+`,"products":`+tc.products+`,`+na+`}`))
			if err != nil {
				t.Fatalf("error %v: a statement we cannot match is a note, never an error", err)
			}
			if got := strings.Join(excepted(t, ex, notes, alpine39Musl()), ","); got != tc.excepted {
				t.Errorf("excepted %q, want %q", got, tc.excepted)
			}
			switch {
			case tc.noteAbout == "" && len(notes) > 0:
				t.Errorf("unexpected notes %v", notes)
			case tc.noteAbout != "" && (len(notes) != 1 || !strings.Contains(notes[0], tc.noteAbout) || !strings.Contains(notes[0], "statements[0]")):
				t.Errorf("notes %v, want one about %q", notes, tc.noteAbout)
			}
		})
	}
}

// TestOpenVEXLastStatementWinsPerComponent: a later affected statement for the same
// product (however it is spelled in the document) cancels an earlier not_affected one.
func TestOpenVEXLastStatementWinsPerComponent(t *testing.T) {
	ex, _, err := ParseOpenVEXNotes("v.json", vexDoc(`
{"vulnerability":{"name":"CVE-2019-14697"},"products":[{"@id":"https://x/m","identifiers":{"purl":"pkg:apk/alpine/musl"}}],"status":"not_affected","justification":"component_not_present"},
{"vulnerability":{"name":"CVE-2019-14697"},"products":[{"@id":"https://x/m","identifiers":{"purl":"pkg:apk/alpine/musl"}}],"status":"affected"},
{"vulnerability":{"name":"CVE-2019-14697"},"products":[{"@id":"pkg:apk/alpine/musl-utils"}],"status":"fixed"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(excepted(t, ex, nil, alpine39Musl()), ","); got != "musl-utils" {
		t.Errorf("excepted %q, want musl-utils", got)
	}
}

// TestOpenVEXNotesReachTheVerdict: notes of an imported VEX file are in the verdict, and
// the policy still loads.
func TestOpenVEXNotesReachTheVerdict(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "v.json"), vexDoc(`{"vulnerability":{"name":"CVE-1"},"products":[{"identifiers":{"cpe22":"cpe:/a:musl-libc:musl"}}],"status":"fixed"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("imports:\n  vex: [v.json]\n"), 0o644)
	p, err := Load(filepath.Join(dir, "p.yaml"), now)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Evaluate(alpine39Musl(), now)
	if !strings.Contains(strings.Join(v.Notes, "\n"), "CPE") || len(p.Imported) != 1 || p.Imported[0].Exceptions != 0 {
		t.Errorf("notes %v, imported %+v", v.Notes, p.Imported)
	}
}
