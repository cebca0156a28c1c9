package scanner

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/iac/detection"
	"github.com/aquasecurity/trivy/pkg/iac/rego"
	"github.com/aquasecurity/trivy/pkg/mapfs"
	"github.com/aquasecurity/trivy/pkg/misconf"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// historyDockerfile is the Dockerfile Trivy's image-history analyzer
// (pkg/fanal/analyzer/imgconf/dockerfile) rebuilds from a BuildKit image's history
// for the instructions of a Dockerfile: ENV NAME=VALUE becomes ENV NAME="VALUE"
// (restoreEnvLine), the other instructions stay as written; FROM is not in the history.
func historyDockerfile(t *testing.T, dockerfile string) string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			continue
		}
		if strings.HasPrefix(line, "ENV ") {
			if k, v, ok := strings.Cut(line, "="); ok {
				line = k + "=\"" + strings.ReplaceAll(v, "\"", "\\\"") + "\""
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

// trivyChecks runs Trivy's own Dockerfile checks (as the image-history analyzer does) on
// a Dockerfile and returns the failures as the scan reports them.
func trivyChecks(t *testing.T, dockerfile string) types.Result {
	t.Helper()
	s, err := misconf.NewScanner(detection.FileTypeDockerfile, misconf.ScannerOption{Namespaces: rego.BuiltinNamespaces()})
	if err != nil {
		t.Fatal(err)
	}
	fsys := mapfs.New()
	if err := fsys.WriteVirtualFile("Dockerfile", []byte(dockerfile), 0o600); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Scan(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	r := types.Result{Target: "app:1", Class: types.ClassConfig, Type: ftypes.Dockerfile}
	for _, m := range ms {
		for _, f := range m.Failures {
			r.Misconfigurations = append(r.Misconfigurations, types.DetectedMisconfiguration{
				ID: f.ID, AVDID: f.AVDID, Title: f.Title, Message: f.Message, Severity: f.Severity,
				Status: types.MisconfStatusFailure, CauseMetadata: f.CauseMetadata,
			})
		}
	}
	return r
}

func ids(fs []report.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.VulnerabilityID+" "+f.Title)
	}
	slices.Sort(out)
	return out
}

// TestCaseBestPracticeEmptyEnv is cases/best-practice-empty-env: ENV POSTGRES_PASSWORD=
// (empty) and ENV DB_PASSWORD=changeme give one CIS-DI-0010 finding, for DB_PASSWORD,
// as Dockle 0.4.6+ reports (goodwithtech/dockle#180); Trivy's DS031 finds both.
func TestCaseBestPracticeEmptyEnv(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdata(t), "cases", "best-practice-empty-env", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	r := trivyChecks(t, historyDockerfile(t, string(b)))
	ds031 := 0
	for _, m := range r.Misconfigurations {
		if DockleID(m.ID) == "CIS-DI-0010" {
			ds031++
		}
	}
	if ds031 != 2 {
		t.Fatalf("Trivy's DS031 should fail for both variables, got %d failures: %+v", ds031, r.Misconfigurations)
	}
	var got []string
	for _, f := range bestPracticeFindings(r) {
		if strings.Contains(f.Title, "PASSWORD") || f.VulnerabilityID == "CIS-DI-0010" {
			got = append(got, f.VulnerabilityID+" "+f.Title)
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "CIS-DI-0010 ") || !strings.Contains(got[0], "DB_PASSWORD") {
		t.Fatalf("want one CIS-DI-0010 finding for DB_PASSWORD, got %q", got)
	}
}

// TestDockleSemanticsThroughTrivysChecks: Trivy's real failures, sorted into Dockle's
// IDs by Dockle's rules.
func TestDockleSemanticsThroughTrivysChecks(t *testing.T) {
	r := trivyChecks(t, historyDockerfile(t, `
RUN apk update
RUN apt-get update
ENV GPG_KEY=0123456789ABCDEF
ENV AUTH_TOKEN=
ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI
ARG GITHUB_TOKEN
USER 1000
`))
	got := strings.Join(ids(bestPracticeFindings(r)), "\n")
	for _, want := range []string{
		"CIS-DI-0007 ", // apt-get update alone: Dockle's check
		"Possible exposure of secret env \"AWS_SECRET_ACCESS_KEY\" in ENV",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	for _, bad := range []string{"AUTH_TOKEN", "GITHUB_TOKEN"} { // empty: nothing exposed
		if strings.Contains(got, bad) {
			t.Errorf("%s has no value and is reported:\n%s", bad, got)
		}
	}
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "AWS_SECRET_ACCESS_KEY") && !strings.HasPrefix(line, "CIS-DI-0010 ") {
			t.Errorf("AWS_SECRET_ACCESS_KEY is Dockle's CIS-DI-0010: %s", line)
		}
	}
	gpg := 0
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, `"GPG_KEY"`) {
			gpg++
			if !strings.HasPrefix(line, "DS-0031 ") {
				t.Errorf("GPG_KEY is accepted by Dockle: Trivy's DS-0031, not CIS-DI-0010: %s", line)
			}
		}
	}
	if gpg != 1 {
		t.Errorf("GPG_KEY (a value Trivy flags) should stay under Trivy's ID:\n%s", got)
	}
	if n := strings.Count(got, "CIS-DI-0007"); n != 1 {
		t.Errorf("apk update alone is Trivy's DS-0017, not Dockle's CIS-DI-0007 (apt only): %d CIS-DI-0007 in\n%s", n, got)
	}
}

func ds031(msg, line string) types.DetectedMisconfiguration {
	m := types.DetectedMisconfiguration{ID: "DS-0031", Message: msg, Status: types.MisconfStatusFailure}
	if line != "" {
		m.CauseMetadata = ftypes.CauseMetadata{StartLine: 3, EndLine: 3, Code: ftypes.Code{Lines: []ftypes.Line{
			{Number: 2, Content: "COPY a /a"}, {Number: 3, Content: line, IsCause: true}}}}
	}
	return m
}

// TestDockleVerdictCIS_DI_0010 covers Dockle's suspicious names, accepted names and
// empty values on every spelling of the instruction Trivy shows.
func TestDockleVerdictCIS_DI_0010(t *testing.T) {
	env := func(n string) string { return `Possible exposure of secret env "` + n + `" in ENV` }
	arg := func(n string) string { return `Possible exposure of secret env "` + n + `" in ARG` }
	for _, tc := range []struct {
		m    types.DetectedMisconfiguration
		want int
	}{
		{ds031(env("DB_PASSWORD"), `ENV DB_PASSWORD="changeme"`), dockleReports},
		{ds031(env("POSTGRES_PASSWORD"), `ENV POSTGRES_PASSWORD=""`), dockleNothing},
		{ds031(env("DB_PASSWORD"), `ENV DB_PASSWORD=changeme`), dockleReports}, // classic builder's history
		{ds031(env("DB_PASSWORD"), `ENV DB_PASSWORD=`), dockleNothing},
		{ds031(env("API_KEY"), `ENV API_KEY abc def`), dockleReports},     // the old ENV NAME VALUE form
		{ds031(env("db_password"), `ENV db_password="x"`), dockleReports}, // Dockle matches in any case
		{ds031(env("GPG_KEY"), `ENV GPG_KEY="0123"`), dockleOther},        // Dockle accepts it
		{ds031(env("GPG_KEYS"), `ENV GPG_KEYS="0123 4567"`), dockleOther},
		{ds031(env("AUTH_URL"), `ENV AUTH_URL="https://x"`), dockleOther}, // Trivy's "auth"; not Dockle's
		{ds031(env("MY_PASS"), `ENV OTHER=1 MY_PASS='s3cret'`), dockleReports},
		{ds031(arg("GITHUB_TOKEN"), `ARG GITHUB_TOKEN`), dockleNothing}, // no default value
		{ds031(arg("GITHUB_TOKEN"), `ARG GITHUB_TOKEN=ghp_x`), dockleReports},
		{ds031(env("DB_PASSWORD"), ""), dockleReports}, // no line shown: Trivy's verdict stands
		{ds031(`Possible exposure of secret file "GOOGLE_APPLICATION_CREDENTIALS" in COPY`, `COPY x $GOOGLE_APPLICATION_CREDENTIALS`), dockleOther},
		{ds031("Possible exposure of secret in RUN", `RUN aws configure set aws_access_key_id x`), dockleOther},
	} {
		if got := dockleVerdict("CIS-DI-0010", tc.m); got != tc.want {
			t.Errorf("%s | %v: verdict %d, want %d", tc.m.Message, tc.m.CauseMetadata.Code.Lines, got, tc.want)
		}
	}
}

func TestDockleVerdictCIS_DI_0007(t *testing.T) {
	for line, want := range map[string]int{
		"RUN apt-get update": dockleReports,
		"RUN apt update":     dockleReports,
		"RUN apt-get update && apt-get install -y curl": dockleOther,
		"RUN apt-get update && apt-get upgrade -y":      dockleOther,
		"RUN apk update": dockleOther,
		"RUN yum update": dockleOther,
		"RUN apt-get install -y x && apt-get update":      dockleReports,
		"RUN apt-get update; apt-get install -y x":        dockleOther, // Dockle's words are split at spaces: "update;" is not "update"
		"RUN set -eux && apt-get update && rm -rf /tmp/x": dockleReports,
	} {
		m := ds031("The instruction 'RUN <package-manager> update' should always be followed by '<package-manager> install' in the same RUN statement.", line)
		m.ID = "DS-0017"
		if got := dockleVerdict("CIS-DI-0007", m); got != want {
			t.Errorf("%s: verdict %d, want %d", line, got, want)
		}
	}
}

func TestDockleIDMapping(t *testing.T) {
	for id, want := range map[string]string{"DS-0002": "CIS-DI-0001", "DS026": "CIS-DI-0006", "AVD-DS-0031": "CIS-DI-0010",
		"DS-0001": "", "DS-0005": "CIS-DI-0009", "DS-0099": ""} {
		if got := DockleID(id); got != want {
			t.Errorf("DockleID(%s) = %q, want %q", id, got, want)
		}
	}
	if w := shellWords(`ENV A="x \"y\"" B='z w'  C=`); strings.Join(w, "|") != `ENV|A=x "y"|B=z w|C=` {
		t.Errorf("shellWords: %q", w)
	}
}
