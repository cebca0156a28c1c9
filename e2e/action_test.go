//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// actionFile is the composite action's metadata, as far as the test reads it.
type actionFile struct {
	Name   string
	Inputs map[string]struct {
		Required bool
		Default  string
	}
	Outputs map[string]struct{ Value string }
	Runs    struct {
		Using string
		Steps []struct {
			Name, ID, Shell, Run, Uses, If string
			Env                            map[string]string
		}
	}
}

func readAction(t *testing.T) (actionFile, []byte) {
	t.Helper()
	b, err := os.ReadFile("../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a, b
}

func TestActionMetadataIsValid(t *testing.T) {
	a, raw := readAction(t)
	if a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		t.Fatalf("runs: %+v", a.Runs)
	}
	for _, in := range []string{"image-name", "severity-threshold", "username", "password", "run-quality-checks"} {
		if _, ok := a.Inputs[in]; !ok {
			t.Errorf("container-scan's input %q is missing", in)
		}
	}
	if _, ok := a.Outputs["scan-report-path"]; !ok {
		t.Error("output scan-report-path is missing")
	}
	for _, m := range regexp.MustCompile(`inputs\.([a-z0-9-]+)`).FindAllSubmatch(raw, -1) {
		if _, ok := a.Inputs[string(m[1])]; !ok {
			t.Errorf("inputs.%s is used but not declared", m[1])
		}
	}
	for _, s := range a.Runs.Steps {
		if s.Run != "" && s.Shell == "" {
			t.Errorf("step %q has no shell (composite run steps need one)", s.Name)
		}
		if strings.Contains(s.Run, "${{") {
			t.Errorf("step %q puts an expression in its script; pass it through env (script injection)", s.Name)
		}
	}
	// actionlint checks a workflow that uses the action, including its inputs.
	lint, err := exec.LookPath("actionlint")
	if err != nil {
		gobin := t.TempDir()
		cmd := exec.Command("go", "install", "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12")
		cmd.Env = append(os.Environ(), "GOBIN="+gobin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("actionlint could not be installed, skipped: %v\n%s", err, out)
			return
		}
		lint = filepath.Join(gobin, "actionlint")
	}
	repo := t.TempDir()
	os.WriteFile(filepath.Join(repo, "action.yml"), raw, 0o644)
	writeFile(t, repo, ".github/workflows/gate.yml", `name: gate
on: [push]
jobs:
  image:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: secscan
        uses: ./
        with:
          image-name: myregistry.azurecr.io/team/app:${{ github.sha }}
          severity-threshold: CRITICAL
          username: ${{ secrets.ACR_USER }}
          password: ${{ secrets.ACR_PASSWORD }}
          run-quality-checks: 'true'
          context: .
      - run: echo "${{ steps.secscan.outputs.scan-report-path }}"
`)
	if out, err := exec.Command("git", "-C", repo, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	cmd := exec.Command(lint, "-shellcheck=", "-pyflakes=")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// testActionStepsRunAsShell runs the action's login and gate steps as the runner would
// (bash, inputs in env), against the private registry.
func testActionStepsRunAsShell(t *testing.T) {
	needTestdata(t)
	a, _ := readAction(t)
	step := func(name string) string {
		for _, s := range a.Runs.Steps {
			if s.Name == name {
				return s.Run
			}
		}
		t.Fatalf("no step %q", name)
		return ""
	}
	runStep := func(script string, envv map[string]string) result {
		dir := t.TempDir()
		cmd := exec.Command("bash", "-e", "-c", script)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+env.DockerHost, "DOCKER_CONFIG="+configDir)
		for k, v := range envv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Dir = dir
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := result{stdout: out.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		return r
	}
	ghOut := filepath.Join(t.TempDir(), "output")
	base := map[string]string{
		"INPUT_SEVERITY_THRESHOLD": "", "INPUT_RUN_QUALITY_CHECKS": "true", "INPUT_BUILD_ARGS": "",
		"INPUT_PUSH": "true", "INPUT_POLICY": "", "INPUT_MODE": "block", "APPLICATIONINSIGHTS_CONNECTION_STRING": "",
		"REPORT_DIR": t.TempDir(), "GITHUB_OUTPUT": ghOut,
		// The gate needs the fixture DB: the action's users get Trivy's default DB.
		"SECSCAN_TEST_ARGS": "",
	}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	// The test points the plugin at the fixture DB through a wrapper on PATH.
	wrapper := t.TempDir()
	writeFile(t, wrapper, "docker", "#!/bin/sh\nif [ \"$1\" = secscan ] && [ \"$2\" != build ]; then sub=$2; shift 2; exec "+dockerPath(t)+" secscan \"$sub\" --cache-dir "+cacheDir+" --db-repository "+dbRepo+" --no-progress \"$@\"; fi\nif [ \"$1\" = secscan ] && [ \"$2\" = build ]; then shift 2; exec "+dockerPath(t)+" secscan build --cache-dir "+cacheDir+" --db-repository "+dbRepo+" \"$@\"; fi\nexec "+dockerPath(t)+" \"$@\"\n")
	os.Chmod(filepath.Join(wrapper, "docker"), 0o755)
	base["PATH"] = wrapper + ":" + os.Getenv("PATH")

	// Build from a context, gate, push: a vulnerable image fails the step, a clean one passes.
	vuln := env.Registry + "/e2e/action:1"
	r := runStep(step("Build, gate, push and publish"), with(map[string]string{"INPUT_IMAGE_NAME": vuln, "INPUT_CONTEXT": appContext(t, "1.1.20-r4", "")}))
	if r.code != 2 || registryHasTag(t, env.Registry, "e2e/action", "1") {
		t.Fatalf("a vulnerable image must fail the step and not be pushed: %s", r)
	}
	clean := env.Registry + "/e2e/action:2"
	r = runStep(step("Build, gate, push and publish"), with(map[string]string{"INPUT_IMAGE_NAME": clean, "INPUT_CONTEXT": appContext(t, "1.1.20-r5", "")}))
	if r.code != 0 || !registryHasTag(t, env.Registry, "e2e/action", "2") {
		t.Fatalf("a clean image passes and is pushed: %s", r)
	}
	// The action attaches the records by default: the pushed tag verifies.
	if v := docker(t, nil, "secscan", "verify", clean); v.code != 0 || !strings.Contains(r.stderr, "Attached the scan, SBOM and verdict") {
		t.Fatalf("the action's push must attach its records by default: %s\n%s", r, v)
	}
	// The team's policy decides when the workflow sets no threshold: the action must
	// not impose HIGH over the policy's gate.block.
	pol := writeFile(t, t.TempDir(), "p.yaml", "gate:\n  block: LOW\n")
	strict := env.Registry + "/e2e/action:3"
	r = runStep(step("Build, gate, push and publish"), with(map[string]string{"INPUT_IMAGE_NAME": strict, "INPUT_CONTEXT": appContext(t, "1.1.20-r5", ""), "INPUT_POLICY": pol}))
	if r.code != 0 || !strings.Contains(r.stderr, "threshold: LOW)") {
		t.Fatalf("the policy's gate.block must apply when severity-threshold is not set: %s", r)
	}
	out, _ := os.ReadFile(ghOut)
	m := regexp.MustCompile(`scan-report-path=(\S+)`).FindStringSubmatch(string(out))
	if m == nil || !strings.HasSuffix(m[1], "scanreport.json") {
		t.Fatalf("GITHUB_OUTPUT: %q", out)
	}
	if _, err := os.Stat(m[1]); err != nil {
		t.Fatalf("scan-report-path does not exist: %v", err)
	}
}

// dockerPath is the engine's docker CLI (for 20.10, docker from PATH).
func dockerPath(t *testing.T) string {
	p, err := exec.LookPath(env.CLI)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
