package scanner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	trivyreport "github.com/aquasecurity/trivy/pkg/report"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// testdata is ../shared/testdata from the project root, or $SECSCAN_TESTDATA; the test
// is skipped when it is absent.
func testdata(t *testing.T) string {
	dir := os.Getenv("SECSCAN_TESTDATA")
	if dir == "" {
		dir = "../../../shared/testdata"
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("test data not found at %s (set SECSCAN_TESTDATA)", dir)
	}
	return dir
}

const hex64 = "0559369dbbf1e8a3b6ff1a1b4e8a8e7e9f1f3c1d2b3a4c5d6e7f8a9b0c1d2e3f"

// referenceSpellings are the ways an image can be named to docker secscan.
var referenceSpellings = []string{
	"myapp:1", "myapp", "myapp:latest", "library/myapp:1", "docker.io/library/myapp:1", "index.docker.io/myapp",
	"team/app:1.4.2", "registry.example.com/team/app:1.4.2", "registry.example.com:443/team/sub/app:v1",
	"127.0.0.1:5000/app:1", "127.0.0.1:5000/e2e/app:1", "localhost:5000/app", "localhost/app:dev", "localhost:5000/a/b/c:tag",
	"[::1]:5000/app:1", "[fe80::1]:5000/team/app", "myapp@sha256:" + hex64, "myapp:1@sha256:" + hex64,
	"127.0.0.1:5000/app@sha256:" + hex64, "sha256:" + hex64, "0559369dbbf1", hex64,
	"MyApp:1", "Registry.Example.com/Team/App:1", "my app:1", "a:b:c", ":1", "app:1?x#y", "%41pp:1", "",
	"myapp:1 (alpine 3.9.4)",
}

// TestSarifImageURI: whatever the spelling, the URI is a relative reference with no
// scheme-like first segment, and Trivy's writer keeps it (a fixed point of ToPathUri).
func TestSarifImageURI(t *testing.T) {
	for _, ref := range referenceSpellings {
		u := sarifImageURI(ref)
		if !sarifURIOK(u) {
			t.Errorf("%q -> %q: not a relative URI reference code scanning accepts", ref, u)
		}
		if again := trivyreport.ToPathUri(u, types.ClassOSPkg); again != u {
			t.Errorf("%q -> %q -> %q: Trivy's writer would not keep it", ref, u, again)
		}
	}
	for ref, want := range map[string]string{
		"myapp:1": "library/myapp", "docker.io/library/myapp:1": "library/myapp", "myapp@sha256:" + hex64: "library/myapp",
		"127.0.0.1:5000/e2e/app:1": "e2e/app", "registry.example.com/team/app:1.4.2": "team/app", "[::1]:5000/team/app:1": "team/app",
		"localhost:5000/app": "library/app", "sha256:" + hex64: "sha256/" + hex64, "MyApp:1": "MyApp", "Registry.Example.com/Team/App:1": "Team/App",
	} {
		if got := sarifImageURI(ref); got != want {
			t.Errorf("sarifImageURI(%q) = %q, want %q", ref, got, want)
		}
	}
	for p, want := range map[string]string{"usr/lib/app.jar": "usr/lib/app.jar", "/app/package.json": "app/package.json",
		`C:\app\x.jar`: "C%3A/app/x.jar", "a:b/c d": "a%3Ab/c%20d", "./x//y": "x/y"} {
		if got := sarifPathURI(p); got != want || !sarifURIOK(got) {
			t.Errorf("sarifPathURI(%q) = %q, want %q", p, got, want)
		}
	}
	for _, bad := range []string{"myapp:1", "https://x/y", "/abs", "", "//host/x", "c:/x"} {
		if sarifURIOK(bad) {
			t.Errorf("sarifURIOK(%q) accepted", bad)
		}
	}
}

func dbVuln(sev string) dbTypes.Vulnerability {
	return dbTypes.Vulnerability{Title: "a vulnerability", Description: "what it does", Severity: sev}
}

// imageReport is a scan of one image named ref with every kind of result the SARIF
// writer places: OS packages, a language package file, best practices (image config)
// and a secret in the image config.
func imageReport(ref string) types.Report {
	return types.Report{
		SchemaVersion: 2, ArtifactName: ref, ArtifactType: ftypes.TypeContainerImage,
		Results: types.Results{
			{Target: ref + " (alpine 3.9.4)", Class: types.ClassOSPkg, Type: ftypes.Alpine, Vulnerabilities: []types.DetectedVulnerability{
				{VulnerabilityID: "CVE-2019-14697", PkgName: "musl", InstalledVersion: "1.1.20-r4", FixedVersion: "1.1.20-r5",
					Vulnerability: dbVuln("CRITICAL")}}},
			{Target: "Java", Class: types.ClassLangPkg, Type: ftypes.Jar, Vulnerabilities: []types.DetectedVulnerability{
				{VulnerabilityID: "CVE-2021-44228", PkgName: "org.apache.logging.log4j:log4j-core", InstalledVersion: "2.14.1",
					PkgPath: "opt/app:v2/lib/log4j-core-2.14.1.jar", Vulnerability: dbVuln("CRITICAL")}}},
			{Target: "usr/local/lib/python3.9/site-packages/x-1.0.dist-info/METADATA", Class: types.ClassLangPkg, Type: ftypes.PythonPkg,
				Vulnerabilities: []types.DetectedVulnerability{{VulnerabilityID: "CVE-2020-1", PkgName: "x", InstalledVersion: "1.0", Vulnerability: dbVuln("HIGH")}}},
			{Target: ref, Class: types.ClassConfig, Type: ftypes.Dockerfile, Misconfigurations: []types.DetectedMisconfiguration{
				{ID: "DS-0002", Title: "Image user should not be 'root'", Message: "Specify at least 1 USER command", Severity: "HIGH", Status: types.MisconfStatusFailure}}},
			{Target: ref, Class: types.ClassSecret, Secrets: []types.DetectedSecret{
				{RuleID: "aws-secret-access-key", Category: "AWS", Severity: "CRITICAL", Title: "AWS Secret Access Key", Match: "AWS_SECRET_ACCESS_KEY=****"}}},
		},
	}
}

// TestSarifURIsForEveryReferenceSpelling writes the SARIF of one image under every
// spelling and checks every result's location against GitHub's rules and the SARIF
// 2.1.0 schema; the image's vulnerability, best-practice and secret results share one
// URI.
func TestSarifURIsForEveryReferenceSpelling(t *testing.T) {
	for _, ref := range referenceSpellings {
		var buf bytes.Buffer
		res := &Result{trivy: imageReport(ref)}
		if err := res.Write(context.Background(), &buf, "sarif", WriteOptions{}); err != nil {
			t.Errorf("%q: %v", ref, err)
			continue
		}
		validateSARIF(t, ref, buf.Bytes())
		var doc struct {
			Runs []struct {
				Results []struct {
					RuleID    string `json:"ruleId"`
					Locations []struct {
						PhysicalLocation struct {
							ArtifactLocation struct {
								URI string `json:"uri"`
							} `json:"artifactLocation"`
						} `json:"physicalLocation"`
					} `json:"locations"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		byRule := map[string]string{}
		for _, r := range doc.Runs[0].Results {
			for _, l := range r.Locations {
				byRule[r.RuleID] = l.PhysicalLocation.ArtifactLocation.URI
			}
		}
		image := byRule["CVE-2019-14697"]
		if image == "" || byRule["DS-0002"] != image || byRule["aws-secret-access-key"] != image {
			t.Errorf("%q: the image's results have different URIs: %v", ref, byRule)
		}
		if byRule["CVE-2021-44228"] != "opt/app%3Av2/lib/log4j-core-2.14.1.jar" {
			t.Errorf("%q: the jar's URI is %q", ref, byRule["CVE-2021-44228"])
		}
	}
}

// TestSarifURIsOfAMultiPlatformScan: results named per platform (" [linux/arm64]") keep
// the image's URI and their files' paths.
func TestSarifURIsOfAMultiPlatformScan(t *testing.T) {
	rep := imageReport("registry.example.com/team/app:1")
	var all types.Results
	for _, p := range []string{"linux/amd64", "linux/arm64/v8"} {
		for _, r := range rep.Results {
			r.Target += " [" + p + "]"
			all = append(all, r)
		}
	}
	rep.Results = all
	var buf bytes.Buffer
	if err := (&Result{trivy: rep}).Write(context.Background(), &buf, "sarif", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, "multi-platform", buf.Bytes())
	out := buf.String()
	if strings.Count(out, `"uri": "team/app"`) != 6 || strings.Count(out, `"uri": "usr/local/lib/python3.9/site-packages/x-1.0.dist-info/METADATA"`) != 2 || strings.Contains(out, "%5B") {
		t.Errorf("URIs of a multi-platform scan:\n%s", out)
	}
}

// TestCaseSarifLocationURI is cases/sarif-location-uri: an image named myapp:1 gives
// library/myapp for its vulnerability and best-practice results alike (Trivy's writer
// gave the best-practice results "myapp:1", read as scheme "myapp").
func TestCaseSarifLocationURI(t *testing.T) {
	if _, err := os.Stat(filepath.Join(testdata(t), "cases", "sarif-location-uri")); err != nil {
		t.Skipf("case not found: %v", err)
	}
	var buf bytes.Buffer
	if err := (&Result{trivy: imageReport("myapp:1")}).Write(context.Background(), &buf, "sarif", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, "myapp:1", buf.Bytes())
	out := buf.String()
	if strings.Contains(out, `"uri": "myapp:1"`) || strings.Count(out, `"uri": "library/myapp"`) != 3 {
		t.Errorf("want library/myapp for the vulnerability, best-practice and secret results:\n%s", out)
	}
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  string
)

// sarifSchema loads the SARIF 2.1.0 JSON schema (the OASIS one, as shipped in
// @microsoft/jest-sarif, as the e2e tests use it): from $SECSCAN_SARIF_SCHEMA, a copy in
// the user cache, or npm; nil when none can be had (offline without a cached copy).
func sarifSchema(t *testing.T) *jsonschema.Schema {
	schemaOnce.Do(func() {
		data, err := loadSARIFSchema()
		if err != nil {
			schemaErr = err.Error()
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			schemaErr = err.Error()
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("sarif-2.1.0.json", doc); err != nil {
			schemaErr = err.Error()
			return
		}
		if schema, err = c.Compile("sarif-2.1.0.json"); err != nil {
			schemaErr = err.Error()
		}
	})
	if schema == nil {
		t.Logf("SARIF schema unavailable (%s): schema validation skipped, GitHub's rules still checked", schemaErr)
	}
	return schema
}

func loadSARIFSchema() ([]byte, error) {
	if p := os.Getenv("SECSCAN_SARIF_SCHEMA"); p != "" {
		return os.ReadFile(p)
	}
	cacheDir, _ := os.UserCacheDir()
	cached := filepath.Join(cacheDir, "docker-secscan-test", "sarif-schema-2.1.0-rtm.5.json")
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	dir, err := os.MkdirTemp("", "sarif-schema")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("npm", "pack", "--silent", "@microsoft/jest-sarif@1.0.0-beta.0")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, strings.TrimSpace(string(out))))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(h.Name, "schemas/sarif-2.1.0-rtm.5.json") {
			b, err := io.ReadAll(tr)
			if err == nil {
				os.MkdirAll(filepath.Dir(cached), 0o755)
				os.WriteFile(cached, b, 0o644)
			}
			return b, err
		}
	}
}

// validateSARIF checks a SARIF document against the SARIF 2.1.0 schema and the upload
// rules GitHub documents for code scanning ("SARIF support for code scanning"): version
// 2.1.0; at most 20 runs, 25,000 results and 25,000 rules per run, 1,000 locations per
// result, 20 tags per rule; every result with a ruleId and message text, a ruleIndex
// that exists, and artifactLocation.uri a relative reference (sarifURIOK).
func validateSARIF(t *testing.T, name string, data []byte) {
	t.Helper()
	if sch := sarifSchema(t); sch != nil {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: not JSON: %v", name, err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s: does not validate against SARIF 2.1.0: %v", name, err)
		}
	}
	var doc struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID         string `json:"id"`
						Properties struct {
							Tags []string `json:"tags"`
						} `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if doc.Version != "2.1.0" || len(doc.Runs) == 0 || len(doc.Runs) > 20 {
		t.Errorf("%s: version %q, %d runs", name, doc.Version, len(doc.Runs))
	}
	for _, run := range doc.Runs {
		rules := run.Tool.Driver.Rules
		if run.Tool.Driver.Name == "" || len(run.Results) > 25000 || len(rules) > 25000 {
			t.Errorf("%s: driver %q, %d results, %d rules", name, run.Tool.Driver.Name, len(run.Results), len(rules))
		}
		for _, r := range rules {
			if len(r.Properties.Tags) > 20 {
				t.Errorf("%s: rule %s has %d tags", name, r.ID, len(r.Properties.Tags))
			}
		}
		for _, r := range run.Results {
			if r.RuleID == "" || r.Message.Text == "" || len(r.Locations) == 0 || len(r.Locations) > 1000 {
				t.Errorf("%s: result %q: message %q, %d locations", name, r.RuleID, r.Message.Text, len(r.Locations))
			}
			if r.RuleIndex != nil && (*r.RuleIndex < 0 || *r.RuleIndex >= len(rules) || rules[*r.RuleIndex].ID != r.RuleID) {
				t.Errorf("%s: result %q has ruleIndex %d", name, r.RuleID, *r.RuleIndex)
			}
			for _, l := range r.Locations {
				if u := l.PhysicalLocation.ArtifactLocation.URI; !sarifURIOK(u) {
					t.Errorf("%s: result %q has location URI %q, which code scanning refuses", name, r.RuleID, u)
				}
			}
		}
	}
}
