//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	trivytypes "github.com/aquasecurity/trivy/pkg/types"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const testIKey = "0a1b2c3d-0000-4000-8000-00000000feed"

// ingestion records what is posted to /v2/track; fail makes the next N posts answer 500.
type ingestion struct {
	mu     sync.Mutex
	events []map[string]any
	fail   int
	srv    *httptest.Server
}

func newIngestion(t *testing.T) *ingestion {
	in := &ingestion{}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		defer in.mu.Unlock()
		if r.URL.Path != "/v2/track" {
			http.NotFound(w, r)
			return
		}
		if in.fail > 0 {
			in.fail--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var envs []map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &envs); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		in.events = append(in.events, envs...)
		fmt.Fprintf(w, `{"itemsReceived":%d,"itemsAccepted":%d,"errors":[]}`, len(envs), len(envs))
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *ingestion) connectionString() string {
	return "InstrumentationKey=" + testIKey + ";IngestionEndpoint=" + in.srv.URL + "/"
}

func (in *ingestion) take() []map[string]any {
	in.mu.Lock()
	defer in.mu.Unlock()
	ev := in.events
	in.events = nil
	return ev
}

// props returns the event's name, properties and measurements.
func eventData(t *testing.T, env map[string]any) (string, map[string]string, map[string]float64) {
	t.Helper()
	b, _ := json.Marshal(env)
	var e struct {
		IKey string
		Data struct {
			BaseData struct {
				Name         string
				Properties   map[string]string
				Measurements map[string]float64
			}
		}
	}
	json.Unmarshal(b, &e)
	if e.IKey != testIKey {
		t.Fatalf("iKey %q", e.IKey)
	}
	return e.Data.BaseData.Name, e.Data.BaseData.Properties, e.Data.BaseData.Measurements
}

func githubEnv(t *testing.T, dir string) []string {
	ev := writeFile(t, dir, "event.json", `{"pull_request":{"number":7,"head":{"sha":"feedfacefeedfacefeedfacefeedfacefeedface","ref":"feature/gate"}}}`)
	return []string{
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/app", "GITHUB_WORKFLOW=build-and-push", "GITHUB_JOB=gate",
		"GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_SERVER_URL=https://github.com", "GITHUB_EVENT_NAME=pull_request",
		"GITHUB_REF=refs/pull/7/merge", "GITHUB_HEAD_REF=feature/gate", "GITHUB_SHA=0123456789abcdef0123456789abcdef01234567",
		"GITHUB_ACTOR=octocat", "GITHUB_EVENT_PATH=" + ev,
		"GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary.md"), "GITHUB_OUTPUT=" + filepath.Join(dir, "output.txt"),
	}
}

func testPublishToApplicationInsightsFromGitHubActions(t *testing.T) {
	needTestdata(t)
	in := newIngestion(t)
	dir := t.TempDir()
	ref := env.Registry + "/e2e/publish:39"
	id := loadImage(t, "images/alpine-39.tar.gz", ref)
	envv := append(githubEnv(t, dir), "APPLICATIONINSIGHTS_CONNECTION_STRING="+in.connectionString(), "SECSCAN_PUBLISH_TOKEN=tok-very-secret-123")
	reports := map[string]string{}
	args := []string{"push", "--mode", "warn"}
	for _, f := range []string{"json", "sarif", "cyclonedx", "markdown", "container-scan", "secscan-json"} {
		reports[f] = filepath.Join(dir, "report."+f)
		args = append(args, "--report", f+"="+reports[f])
	}
	r := docker(t, envv, secscanArgs(append(args, ref)...)...)
	if r.code != 0 {
		t.Fatalf("push: %s", r)
	}
	events := in.take()
	if len(events) != 1 {
		t.Fatalf("want 1 event, got %d: %s", len(events), r)
	}
	name, p, m := eventData(t, events[0])
	if name != "MS.CloudSecurity.CI.ScanResult" || p["__version"] != "0.1" {
		t.Fatalf("event %q props %v", name, p)
	}
	var ctx, wf, vs map[string]any
	json.Unmarshal([]byte(p["context"]), &ctx)
	json.Unmarshal([]byte(p["workflow"]), &wf)
	json.Unmarshal([]byte(p["vulnscan"]), &vs)
	digest := p["image.digest"]
	if !strings.HasPrefix(digest, "sha256:") || ctx["artifactId"] != digest || ctx["artifactType"] != "containerImage" || ctx["token"] != "tok-very-secret-123" {
		t.Fatalf("context %v digest %s", ctx, digest)
	}
	if wf["provider"] != "GitHub Actions" || wf["runUrl"] != "https://github.com/acme/app/actions/runs/4242" || wf["repositoryUrl"] != "https://github.com/acme/app" {
		t.Fatalf("workflow %v", wf)
	}
	ad := wf["additionalData"].(map[string]any)
	if ad["GITHUB_REF"] != "refs/pull/7/merge" || ad["GITHUB_SHA"] != "0123456789abcdef0123456789abcdef01234567" {
		t.Fatalf("additionalData %v", ad)
	}
	if vs["provider"] != "trivy v0.74.0" || vs["scanTime"] == "" || len(vs["identifiers"].([]any)) == 0 {
		t.Fatalf("vulnscan %v", vs)
	}
	want := map[string]string{
		"ci.provider": "GitHub Actions", "ci.repository": "acme/app", "ci.workflow": "build-and-push", "ci.job": "gate",
		"ci.run_id": "4242", "ci.run_attempt": "1", "ci.event": "pull_request", "ci.branch": "feature/gate",
		"ci.head_sha": "feedfacefeedfacefeedfacefeedfacefeedface", "ci.actor": "octocat",
		"image.reference": ref, "image.id": id, "image.pushed": "true", "scanner.version": "trivy v0.74.0",
		"policy.verdict": "warned", "db.schemaVersion": "2", // --mode warn let blocking findings through
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("property %s = %q, want %q", k, p[k], v)
		}
	}
	if m["severity.CRITICAL"] != 2 || m["severity.MEDIUM"] != 4 || m["findings.total"] < 6 {
		t.Errorf("measurements %v", m)
	}
	for k, v := range p {
		if len(v) > 8192 {
			t.Errorf("property %s is %d characters", k, len(v))
		}
	}

	// Report files, the job summary and the step output.
	out, _ := os.ReadFile(filepath.Join(dir, "output.txt"))
	if !strings.Contains(string(out), "scan-report-path=") {
		t.Errorf("GITHUB_OUTPUT: %q", out)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !strings.Contains(string(sum), "docker secscan") || !strings.Contains(string(sum), "CVE-2019-14697") {
		t.Errorf("GITHUB_STEP_SUMMARY: %q", sum)
	}
	var cs struct {
		ImageName       string
		Vulnerabilities []map[string]string
	}
	b, _ := os.ReadFile(reports["container-scan"])
	if err := json.Unmarshal(b, &cs); err != nil || cs.ImageName != ref || len(cs.Vulnerabilities) != 6 {
		t.Errorf("container-scan report: %v %s", err, b)
	}
	if got := trivyFindings(t, reports["json"]); len(got) != 6 {
		t.Errorf("json report has %d findings", len(got))
	}
	// The JSON report parses with Trivy's own types.
	var trep trivytypes.Report
	b, _ = os.ReadFile(reports["json"])
	if err := json.Unmarshal(b, &trep); err != nil || trep.SchemaVersion != 2 || trep.ArtifactType != "container_image" || len(trep.Results) == 0 || trep.Trivy.Version != "v0.74.0" {
		t.Errorf("Trivy's types.Report: %v (schema %d, type %s, %d results, version %q)", err, trep.SchemaVersion, trep.ArtifactType, len(trep.Results), trep.Trivy.Version)
	}
	validateSARIF(t, reports["sarif"])
	if b, _ := os.ReadFile(reports["sarif"]); strings.Contains(string(b), "No issues found") {
		t.Error("the SARIF report lists passed checks as results")
	}
	// The CycloneDX BOM, written after the JSON report, still has every component.
	var bom struct {
		Components      []map[string]any
		Vulnerabilities []map[string]any
	}
	b, _ = os.ReadFile(reports["cyclonedx"])
	if err := json.Unmarshal(b, &bom); err != nil || len(bom.Components) < 10 || len(bom.Vulnerabilities) < 3 {
		t.Errorf("CycloneDX BOM: %v, %d components, %d vulnerabilities", err, len(bom.Components), len(bom.Vulnerabilities))
	}

	// No report, log or output holds the token or the connection string's key.
	all := r.stdout + r.stderr + string(sum) + string(out)
	for _, f := range reports {
		b, _ := os.ReadFile(f)
		all += string(b)
	}
	for _, secret := range []string{"tok-very-secret-123", testIKey, in.srv.URL} {
		if strings.Contains(all, secret) {
			t.Errorf("%q appears in the output or a report", secret)
		}
	}
}

func testPublishFromAzurePipelines(t *testing.T) {
	needTestdata(t)
	in := newIngestion(t)
	ref := env.Registry + "/e2e/azure:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	envv := []string{
		"TF_BUILD=True", "BUILD_REPOSITORY_NAME=app", "BUILD_REPOSITORY_URI=https://dev.azure.com/acme/proj/_git/app",
		"BUILD_DEFINITIONNAME=app-ci", "SYSTEM_JOBDISPLAYNAME=gate", "BUILD_BUILDID=77", "SYSTEM_JOBATTEMPT=1",
		"BUILD_REASON=IndividualCI", "BUILD_SOURCEBRANCH=refs/heads/main", "BUILD_SOURCEBRANCHNAME=main",
		"BUILD_SOURCEVERSION=89abcdef89abcdef89abcdef89abcdef89abcdef", "BUILD_REQUESTEDFOR=Jane Doe",
		"SYSTEM_COLLECTIONURI=https://dev.azure.com/acme/", "SYSTEM_TEAMPROJECT=proj",
		"APPLICATIONINSIGHTS_CONNECTION_STRING=" + in.connectionString(),
	}
	r := docker(t, envv, secscanArgs("push", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)...)
	if r.code != 2 {
		t.Fatalf("alpine-39 is blocked: %s", r)
	}
	events := in.take()
	if len(events) != 1 {
		t.Fatalf("want 1 event for the blocked image, got %d", len(events))
	}
	_, p, _ := eventData(t, events[0])
	var wf map[string]any
	json.Unmarshal([]byte(p["workflow"]), &wf)
	if wf["provider"] != "Azure Pipelines" || wf["runUrl"] != "https://dev.azure.com/acme/proj/_build/results?buildId=77" ||
		p["ci.commit_sha"] != "89abcdef89abcdef89abcdef89abcdef89abcdef" || p["ci.branch"] != "main" || p["policy.verdict"] != "blocked" || p["image.pushed"] != "false" {
		t.Fatalf("workflow %v props %v", wf, p)
	}
}

func testPublishFailureIsSpooledAndSentOnce(t *testing.T) {
	needTestdata(t)
	in := newIngestion(t)
	ref := env.Registry + "/e2e/spool:1"
	loadImage(t, "images/alpine-3.10.4.tar.gz", ref)
	cache := t.TempDir()
	// The DB is downloaded into this cache first, so that only publishing fails.
	if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo); r.code != 0 {
		t.Fatal(r)
	}
	envv := []string{"APPLICATIONINSIGHTS_CONNECTION_STRING=" + in.connectionString()}
	base := []string{"secscan", "push", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "--publish-timeout", "2s", "-o", filepath.Join(t.TempDir(), "r.txt")}

	in.fail = 10
	r := docker(t, envv, append(base, ref)...)
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: publishing") || !registryHasTag(t, env.Registry, "e2e/spool", "1") {
		t.Fatalf("a failed publication warns and keeps the verdict: %s", r)
	}
	r = docker(t, envv, append(append(base, "--publish-required"), ref)...)
	if r.code != 1 {
		t.Fatalf("--publish-required turns a failed publication into exit 1: %s", r)
	}
	in.fail = 0
	r = docker(t, envv, "secscan", "publish", "--retry", "--cache-dir", cache)
	if r.code != 0 || len(in.take()) != 2 {
		t.Fatalf("publish --retry sends both spooled events: %s", r)
	}
	r = docker(t, envv, "secscan", "publish", "--retry", "--cache-dir", cache)
	if r.code != 0 || len(in.take()) != 0 || !strings.Contains(r.stderr, "spool is empty") {
		t.Fatalf("nothing is sent twice: %s", r)
	}
}

func TestCIContextCommand(t *testing.T) {
	dir := t.TempDir()
	r := docker(t, githubEnv(t, dir), "secscan", "ci-context", "--ci", "branch=release/1.0")
	if r.code != 0 || !strings.Contains(r.stdout, "https://github.com/acme/app/actions/runs/4242") || !strings.Contains(r.stdout, "release/1.0") {
		t.Fatalf("ci-context: %s", r)
	}
}

// validateSARIF checks a SARIF file against the SARIF 2.1.0 JSON schema shipped in the
// npm package @microsoft/jest-sarif (fetched with npm pack; skipped without npm).
func validateSARIF(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Log("npm not found: SARIF schema validation skipped")
		return
	}
	dir := t.TempDir()
	cmd := exec.Command("npm", "pack", "--silent", "@microsoft/jest-sarif@1.0.0-beta.0")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Logf("npm pack failed (%v): SARIF schema validation skipped", err)
		return
	}
	tgz := filepath.Join(dir, strings.TrimSpace(string(out)))
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var schemaJSON []byte
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if strings.HasSuffix(h.Name, "schemas/sarif-2.1.0-rtm.5.json") {
			schemaJSON, _ = io.ReadAll(tr)
		}
	}
	if schemaJSON == nil {
		t.Fatal("the SARIF schema is not in @microsoft/jest-sarif")
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif-2.1.0.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("%s does not validate against SARIF 2.1.0: %v", path, err)
	}
	t.Log("SARIF report validates against the SARIF 2.1.0 schema")
}

// testBuildPushOfSeveralTagsPublishesEachTag: one scanned image pushed under two tags
// gives one event per push, each naming its own tag.
func testBuildPushOfSeveralTagsPublishesEachTag(t *testing.T) {
	needTestdata(t)
	in := newIngestion(t)
	a, b := env.Registry+"/e2e/tags:a", env.Registry+"/e2e/tags:b"
	envv := []string{"APPLICATIONINSIGHTS_CONNECTION_STRING=" + in.connectionString()}
	r := docker(t, envv, secscanArgs("build", "-t", a, "-t", b, "--push", appContext(t, "1.1.20-r5", ""))...)
	if r.code != 0 {
		t.Fatalf("build --push: %s", r)
	}
	events := in.take()
	var got []string
	for _, e := range events {
		_, p, _ := eventData(t, e)
		got = append(got, p["image.reference"])
	}
	sort.Strings(got)
	if want := []string{a, b}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events name %v, want one per tag %v", got, want)
	}
}
