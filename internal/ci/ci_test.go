package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestGitHubPullRequest(t *testing.T) {
	ev := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(ev, []byte(`{"pull_request":{"head":{"sha":"abc123head","ref":"feature/x"}}}`), 0o644)
	c, err := Detect(envOf(map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKFLOW": "build", "GITHUB_JOB": "gate",
		"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_EVENT_NAME": "pull_request",
		"GITHUB_REF": "refs/pull/7/merge", "GITHUB_HEAD_REF": "feature/x", "GITHUB_SHA": "mergesha", "GITHUB_ACTOR": "octocat",
		"GITHUB_EVENT_PATH": ev,
	}), ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Context{Provider: "GitHub Actions", Repository: "acme/app", RepositoryURL: "https://github.com/acme/app", Workflow: "build",
		Job: "gate", RunID: "42", RunAttempt: "2", RunURL: "https://github.com/acme/app/actions/runs/42/attempts/2", Event: "pull_request",
		Ref: "refs/pull/7/merge", Branch: "feature/x", PullRequest: "7", CommitSHA: "mergesha", HeadSHA: "abc123head", MergeSHA: "mergesha", Actor: "octocat"}
	if c != want {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestGitHubPushBranch(t *testing.T) {
	c, _ := Detect(envOf(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "1", "GITHUB_RUN_ATTEMPT": "1",
		"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch"}), ".", nil)
	if c.Branch != "main" || c.RunURL != "https://github.com/acme/app/actions/runs/1" {
		t.Fatalf("%+v", c)
	}
}

func TestAzurePipelines(t *testing.T) {
	c, _ := Detect(envOf(map[string]string{
		"TF_BUILD": "True", "BUILD_REPOSITORY_NAME": "app", "BUILD_REPOSITORY_URI": "https://dev.azure.com/acme/proj/_git/app",
		"BUILD_DEFINITIONNAME": "app-ci", "SYSTEM_JOBDISPLAYNAME": "gate", "BUILD_BUILDID": "99", "SYSTEM_JOBATTEMPT": "1",
		"BUILD_REASON": "PullRequest", "BUILD_SOURCEBRANCH": "refs/pull/3/merge", "BUILD_SOURCEBRANCHNAME": "merge",
		"SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/feature/y", "SYSTEM_PULLREQUEST_SOURCECOMMITID": "headsha",
		"BUILD_SOURCEVERSION": "mergesha", "BUILD_REQUESTEDFOR": "Jane", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/", "SYSTEM_TEAMPROJECT": "proj",
	}), ".", nil)
	if c.Provider != "Azure Pipelines" || c.RunURL != "https://dev.azure.com/acme/proj/_build/results?buildId=99" ||
		c.Branch != "feature/y" || c.HeadSHA != "headsha" || c.CommitSHA != "mergesha" || c.Workflow != "app-ci" {
		t.Fatalf("%+v", c)
	}
}

func TestGitLabAndJenkins(t *testing.T) {
	c, _ := Detect(envOf(map[string]string{"GITLAB_CI": "true", "CI_PROJECT_PATH": "g/app", "CI_PIPELINE_ID": "5", "CI_PIPELINE_URL": "https://gitlab.com/g/app/-/pipelines/5",
		"CI_COMMIT_BRANCH": "main", "CI_COMMIT_SHA": "s"}), ".", nil)
	if c.Provider != "GitLab CI" || c.RunURL == "" || c.Ref != "refs/heads/main" {
		t.Fatalf("%+v", c)
	}
	c, _ = Detect(envOf(map[string]string{"JENKINS_URL": "https://ci/", "JOB_NAME": "app", "BUILD_URL": "https://ci/job/app/3/", "GIT_BRANCH": "origin/main", "GIT_COMMIT": "s",
		"GIT_URL": "https://jenkins:ghp_SECRETPAT123@github.com/acme/app.git"}), ".", nil)
	if c.Provider != "Jenkins" || c.Branch != "main" || c.RunURL != "https://ci/job/app/3/" || c.RepositoryURL != "https://github.com/acme/app.git" {
		t.Fatalf("%+v", c)
	}
}

func TestOverrides(t *testing.T) {
	c, err := Detect(envOf(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SHA": "a", "SECSCAN_CI_BRANCH": "release", "SECSCAN_CI_REPOSITORY_URL": "https://u:tok@git.example.com/r"}), ".", []string{"commit-sha=b", "run_url=https://bot:secret@x/run"})
	if err != nil || c.CommitSHA != "b" || c.Branch != "release" || c.RunURL != "https://x/run" || c.RepositoryURL != "https://git.example.com/r" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := Detect(envOf(nil), ".", []string{"colour=red"}); err == nil || !strings.Contains(err.Error(), "commit_sha") {
		t.Fatalf("bad override: %v", err)
	}
}

func TestLocal(t *testing.T) {
	c, _ := Detect(envOf(nil), t.TempDir(), nil)
	if c.Provider != "local" || c.CommitSHA != "" {
		t.Fatalf("outside a repository: %+v", c)
	}
}

func TestLocalRunIsDescribedByGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	noEnv := envOf(map[string]string{})
	run("init", "-q", "-b", "feature")
	if c, _ := Detect(noEnv, dir, nil); c.Provider != "local" || c.CommitSHA != "" || c.Branch != "" {
		t.Fatalf("a repository without commits: %+v", c)
	}
	run("commit", "-q", "--allow-empty", "-m", "x")
	c, err := Detect(noEnv, dir, nil)
	top, _ := filepath.EvalSymlinks(dir)
	if err != nil || len(c.CommitSHA) != 40 || c.Branch != "feature" || c.Ref != "refs/heads/feature" || !strings.HasSuffix(top, strings.TrimPrefix(c.Repository, "~")) {
		t.Fatalf("got %+v, %v", c, err)
	}
	run("checkout", "-q", "--detach")
	if c, _ := Detect(noEnv, dir, nil); c.Branch != "" || len(c.CommitSHA) != 40 {
		t.Fatalf("a detached HEAD has no branch: %+v", c)
	}
}
