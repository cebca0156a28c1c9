//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Secrets in the image's files (issue 15, item 10): Trivy's secret scanner runs on the
// layers the engine streams, gate.secrets decides, and the secret itself never leaves
// the engine: every report, the log and the App Insights event carry Trivy's redacted
// match only.
func init() {
	daemonTests = append(daemonTests, []daemonTest{
		{"SecretInAnImageFileIsReportedRedacted", testSecretInAnImageFileIsReportedRedacted},
		{"SecretsBlockIgnoreAndSecretConfig", testSecretsBlockIgnoreAndSecretConfig},
		{"SecretScanCost", testSecretScanCost},
	}...)
}

// e2eFakeAWSKey is a made-up AWS access key ID (Trivy's aws-access-key-id rule finds it).
const e2eFakeAWSKey = "AKIAQWERTYUIOPASDFGH"

// secretImage builds, on Alpine 3.10.4 (no finding of its own with the fixture DB
// above HIGH), an image with a fake AWS key on line 3 of /app/config.env.
func secretImage(t *testing.T, ref string) {
	t.Helper()
	needTestdata(t)
	base := env.Registry + "/e2e/secret:base"
	loadImage(t, "images/alpine-3.10.4.tar.gz", base)
	dir := t.TempDir()
	writeFile(t, dir, "config.env", "# deploy settings\nREGION=eu-west-1\nAWS_ACCESS_KEY_ID="+e2eFakeAWSKey+"\n")
	writeFile(t, dir, "Dockerfile", "FROM "+base+"\nCOPY config.env /app/config.env\n")
	if r := docker(t, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "-t", ref, dir); r.code != 0 {
		t.Fatalf("build: %s", r)
	}
}

func testSecretInAnImageFileIsReportedRedacted(t *testing.T) {
	ref := env.Registry + "/e2e/secret:1"
	secretImage(t, ref)
	in := newIngestion(t)
	out := t.TempDir()
	cache := t.TempDir()
	args := []string{"secscan", "scan", "--debug", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "--severity-threshold", "CRITICAL", "-f", "table"}
	for _, f := range []string{"json", "sarif", "cyclonedx", "secscan-json", "markdown", "container-scan"} {
		args = append(args, "--report", f+"="+filepath.Join(out, "r."+f))
	}
	envv := []string{"APPLICATIONINSIGHTS_CONNECTION_STRING=" + in.connectionString()}
	r := docker(t, envv, append(args, ref)...)
	if r.code != 0 {
		t.Fatalf("a secret warns by default (gate.secrets: warn), the scan passes: %s", r)
	}
	if !strings.Contains(r.stdout, "aws-access-key-id") || !strings.Contains(r.stdout, "/app/config.env:3") || !strings.Contains(r.stdout, "warning") {
		t.Fatalf("the table names the rule, the file and line: %s", r)
	}
	if !strings.Contains(r.stderr, "1 secret warning") {
		t.Fatalf("the verdict counts the secret: %s", r)
	}
	var sj struct {
		Findings []struct {
			Finding struct {
				Kind, VulnerabilityID, PkgPath, Match string
				StartLine                             int
			}
			Disposition string
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "r.secscan-json"))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &sj)
	found := false
	for _, d := range sj.Findings {
		f := d.Finding
		if d.Disposition == "warning" && f.Kind == "secret" && f.VulnerabilityID == "aws-access-key-id" && f.PkgPath == "/app/config.env" && f.StartLine == 3 && strings.Contains(f.Match, "AWS_ACCESS_KEY_ID=****") {
			found = true
		}
	}
	if !found {
		t.Fatalf("secscan-json lacks the secret finding with file, line and redacted match:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "r.json")); !strings.Contains(string(b), `"RuleID": "aws-access-key-id"`) {
		t.Fatalf("Trivy's JSON lacks the secret:\n%s", b)
	}
	// Never the secret itself: not in any report, the output, the log or the event.
	var events []byte
	for _, ev := range in.take() {
		e, _ := json.Marshal(ev)
		events = append(events, e...)
	}
	if len(events) == 0 {
		t.Fatal("no App Insights event was sent")
	}
	places := map[string]string{"stdout": r.stdout, "stderr (--debug)": r.stderr, "App Insights event": string(events)}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(out, e.Name()))
		places[e.Name()] = string(b)
	}
	if len(entries) != 6 {
		t.Fatalf("reports written: %v", entries)
	}
	_ = filepath.WalkDir(filepath.Join(cache, "scans"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			places["scan cache "+d.Name()] = string(b)
		}
		return nil
	})
	for where, s := range places {
		if strings.Contains(s, e2eFakeAWSKey) {
			t.Errorf("the raw secret is in %s", where)
		}
	}

	// gate.secrets: off does not run the secret analyser: no secret finding, and the
	// layers are analysed under the other cache key (the secret analyser is part of it).
	dir := t.TempDir()
	writeFile(t, dir, ".secscan.yaml", "version: 1\ngate:\n  secrets: off\n")
	r = dockerIn(t, dir, configDir, nil, "secscan", "scan", "--debug", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "-f", "secscan-json", ref)
	if r.code != 0 || strings.Contains(r.stdout, `"kind": "secret"`) || strings.Contains(r.stdout, "aws-access-key-id") {
		t.Fatalf("gate.secrets: off: %s", r)
	}
	if !strings.Contains(r.stderr, "Layer analysed") {
		t.Fatalf("gate.secrets: off analyses the layers again without the secret analyser: %s", r.stderr)
	}
}

func testSecretsBlockIgnoreAndSecretConfig(t *testing.T) {
	ref := env.Registry + "/e2e/secret:2"
	secretImage(t, ref)
	cache := t.TempDir()
	run := func(dir string) result {
		t.Helper()
		return dockerIn(t, dir, configDir, nil, "secscan", "push", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo, "--severity-threshold", "CRITICAL", ref)
	}
	// gate.secrets: block: not pushed.
	dir := t.TempDir()
	writeFile(t, dir, ".secscan.yaml", "version: 1\ngate:\n  secrets: block\n")
	r := run(dir)
	if r.code != 2 || !strings.Contains(r.stderr, "1 secret") || !strings.Contains(r.stderr, "secrets block") || registryHasTag(t, env.Registry, "e2e/secret", "2") {
		t.Fatalf("gate.secrets: block blocks the push: %s", r)
	}
	// .trivyignore's secret rule ID suppresses it (beside the policy: imports.trivyignore).
	writeFile(t, dir, ".trivyignore", "aws-access-key-id\n")
	writeFile(t, dir, ".secscan.yaml", "version: 1\ngate:\n  secrets: block\nimports:\n  trivyignore: [.trivyignore]\n")
	r = run(dir)
	if r.code != 0 || !strings.Contains(r.stderr, "1 secret finding excepted") || !registryHasTag(t, env.Registry, "e2e/secret", "2") {
		t.Fatalf(".trivyignore's secret rule ID suppresses the secret: %s", r)
	}
	// trivy-secret.yaml in the working directory disables the rule: nothing found.
	dir = t.TempDir()
	writeFile(t, dir, ".secscan.yaml", "version: 1\ngate:\n  secrets: block\n")
	writeFile(t, dir, "trivy-secret.yaml", "disable-rules:\n  - aws-access-key-id\n")
	r = run(dir)
	if r.code != 0 || strings.Contains(r.stderr, "secret finding") || strings.Contains(r.stderr, "1 secret") {
		t.Fatalf("trivy-secret.yaml's disable-rules is honoured: %s", r)
	}
	// gate.secret-config names a config with a custom rule: the custom rule blocks.
	dir = t.TempDir()
	writeFile(t, dir, "rules/secrets.yaml", "disable-rules:\n  - aws-access-key-id\nrules:\n  - id: acme-region\n    category: ACME\n    title: ACME region setting\n    severity: LOW\n    regex: 'REGION=(?P<secret>eu-west-1)'\n    secret-group-name: secret\n")
	writeFile(t, dir, ".secscan.yaml", "version: 1\ngate:\n  secrets: block\n  secret-config: rules/secrets.yaml\n")
	r = run(dir)
	if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "acme-region") || strings.Contains(r.stdout+r.stderr, "eu-west-1") {
		t.Fatalf("gate.secret-config's custom rule blocks, redacted: %s", r)
	}
}

// testSecretScanCost measures what the secret scanner costs a cold scan (BENCHMARKS.md):
// only with SECSCAN_SECRET_COST=FILE (the measurements are written there; runs:
// SECSCAN_SECRET_COST_RUNS, default 5). Two text-heavy images of the same bytes, the
// host's /usr/local/go, /usr/share, /usr/include and /usr/lib/python3.11 (whichever
// exist, without Java archives, which would need the Java DB), each `docker import`ed
// as one layer: "usr", where they are, which Trivy's built-in allow rules (usr/share,
// usr/include, usr/local/go, ...) spare the secret scanner, as in an OS base image; and
// "srv", the same tree under /srv, where every file but tests and examples is read, as
// application files are. Each run is a cold scan (a fresh cache folder holding only the
// DB, --skip-db-update, --best-practices off) with --secrets off and with --secrets warn,
// in alternating order, under /usr/bin/time, then `docker save`; medians are reported.
func testSecretScanCost(t *testing.T) {
	outFile := os.Getenv("SECSCAN_SECRET_COST")
	if outFile == "" {
		t.Skip("set SECSCAN_SECRET_COST=FILE to measure the secret scanner's cost")
	}
	runs := 5
	if n, err := strconv.Atoi(os.Getenv("SECSCAN_SECRET_COST_RUNS")); err == nil && n > 0 {
		runs = n
	}
	var dirs []string
	for _, d := range []string{"usr/local/go", "usr/share", "usr/include", "usr/lib/python3.11"} {
		if st, err := os.Stat("/" + d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	tmpl := t.TempDir()
	if r := docker(t, nil, "secscan", "db", "update", "--no-progress", "--cache-dir", tmpl, "--db-repository", dbRepo); r.code != 0 {
		t.Fatal(r)
	}
	timed := func(discard bool, args ...string) (wall float64, rssKB int, r result) {
		t.Helper()
		cmd := env.Docker(configDir, args...)
		tf := filepath.Join(t.TempDir(), "time")
		cmd.Args = append([]string{"/usr/bin/time", "-o", tf, "-f", "%e %M", cmd.Path}, cmd.Args[1:]...)
		cmd.Path = "/usr/bin/time"
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		if discard {
			cmd.Stdout = io.Discard
		}
		err := cmd.Run()
		r = result{stdout: so.String(), stderr: se.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(tf)
		f := strings.Fields(string(b))
		if len(f) < 2 {
			t.Fatalf("/usr/bin/time wrote %q", b)
		}
		wall, _ = strconv.ParseFloat(f[len(f)-2], 64)
		rssKB, _ = strconv.Atoi(f[len(f)-1])
		return wall, rssKB, r
	}
	var lines []string
	logf := func(format string, a ...any) {
		lines = append(lines, fmt.Sprintf(format, a...))
		t.Logf(format, a...)
	}
	med := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, layout := range []string{"usr", "srv"} {
		ref := env.Registry + "/e2e/secretcost:" + layout
		args := []string{"-cf", "-", "--exclude=*.jar", "--exclude=*.war", "--exclude=*.ear", "--exclude=*.par", "-C", "/"}
		if layout == "srv" {
			args = append(args, "--transform", "s,^usr/,srv/,")
		}
		tarCmd := exec.Command("tar", append(args, dirs...)...)
		imp := env.Docker(configDir, "import", "-", ref)
		pipe, err := tarCmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		imp.Stdin = pipe
		if err := tarCmd.Start(); err != nil {
			t.Fatal(err)
		}
		if out, err := imp.CombinedOutput(); err != nil {
			t.Fatalf("docker import: %v\n%s", err, out)
		}
		_ = tarCmd.Wait()
		size := strings.TrimSpace(mustDocker(t, "image", "inspect", "--format", "{{.Size}}", ref).stdout)
		cold := func(secrets string) (float64, int, result) {
			t.Helper()
			cache := t.TempDir()
			if out, err := exec.Command("cp", "-a", filepath.Join(tmpl, "db"), filepath.Join(cache, "db")).CombinedOutput(); err != nil {
				t.Fatalf("copy the DB: %v %s", err, out)
			}
			w, m, r := timed(false, "secscan", "scan", "--no-progress", "--cache-dir", cache, "--skip-db-update", "--best-practices", "off", "--secrets", secrets, "-f", "secscan-json", ref)
			if r.code != 0 && r.code != 2 {
				t.Fatalf("scan --secrets %s: %s", secrets, r)
			}
			return w, m, r
		}
		// Untimed: what each finds.
		_, _, off := cold("off")
		_, _, on := cold("warn")
		count := func(r result) int { return strings.Count(r.stdout, `"kind": "secret"`) }
		logf("image %s: %s bytes, one layer: %s under /%s", ref, size, strings.Join(dirs, ", "), layout)
		logf("secret findings: %d with --secrets off, %d with --secrets warn", count(off), count(on))
		var wOff, wOn, mOff, mOn, save []float64
		for i := 0; i < runs; i++ {
			order := []string{"off", "warn"}
			if i%2 == 1 {
				order = []string{"warn", "off"}
			}
			got := map[string][2]float64{}
			for _, s := range order {
				w, m, _ := cold(s)
				got[s] = [2]float64{w, float64(m) / 1024}
			}
			sw, _, r := timed(true, "save", ref)
			if r.code != 0 {
				t.Fatalf("docker save: %s", r)
			}
			wOff, mOff = append(wOff, got["off"][0]), append(mOff, got["off"][1])
			wOn, mOn = append(wOn, got["warn"][0]), append(mOn, got["warn"][1])
			save = append(save, sw)
			logf("run %d (%s first): --secrets off %.2f s %.0f MiB, --secrets warn %.2f s %.0f MiB; docker save %.2f s", i+1, order[0], got["off"][0], got["off"][1], got["warn"][0], got["warn"][1], sw)
		}
		logf("%s medians of %d: --secrets off %.2f s (%.0f MiB), --secrets warn %.2f s (%.0f MiB), ratio %.2f; docker save %.2f s", layout, runs, med(wOff), med(mOff), med(wOn), med(mOn), med(wOn)/med(wOff), med(save))
	}
	if err := os.WriteFile(outFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
