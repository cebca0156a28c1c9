package ci

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// want lists the fields a case checks (by Fields name); fields not listed must be empty
// unless the case sets loose.
type ciCase struct {
	name  string
	env   map[string]string
	event any // the payload written to GITHUB_EVENT_PATH, if any
	want  map[string]string
}

func runCases(t *testing.T, cases []ciCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.event != nil {
				p := filepath.Join(t.TempDir(), "event.json")
				b, _ := json.Marshal(tc.event)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				env["GITHUB_EVENT_PATH"] = p
			}
			c, err := Detect(envOf(env), t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range c.Fields() {
				w, listed := tc.want[name]
				if !listed {
					continue
				}
				if *p != w {
					t.Errorf("%s = %q, want %q", name, *p, w)
				}
			}
		})
	}
}

// TestGitHubProviderDocumentedVariables uses variable sets as GitHub's "Variables
// reference" and "Events that trigger workflows" describe them for each event.
func TestGitHubProviderDocumentedVariables(t *testing.T) {
	base := func(m map[string]string) map[string]string {
		out := map[string]string{"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_REPOSITORY": "octo-org/octo-repo",
			"GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "1658821493", "GITHUB_RUN_ATTEMPT": "1",
			"GITHUB_WORKFLOW": "CI", "GITHUB_JOB": "build", "GITHUB_ACTOR": "octocat"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	prEvent := map[string]any{"number": 42, "pull_request": map[string]any{"number": 42,
		"head":             map[string]any{"ref": "feature/login/fix", "sha": "1111111111111111111111111111111111111111"},
		"base":             map[string]any{"ref": "main", "sha": "2222222222222222222222222222222222222222"},
		"merge_commit_sha": "3333333333333333333333333333333333333333"}}
	runCases(t, []ciCase{
		{name: "push to a branch with slashes", env: base(map[string]string{"GITHUB_EVENT_NAME": "push",
			"GITHUB_REF": "refs/heads/feature/login/fix", "GITHUB_REF_NAME": "feature/login/fix", "GITHUB_REF_TYPE": "branch",
			"GITHUB_SHA": "ffac537e6cbbf934b08745a378932722df287a53"}),
			event: map[string]any{"ref": "refs/heads/feature/login/fix", "after": "ffac537e6cbbf934b08745a378932722df287a53"},
			want: map[string]string{"branch": "feature/login/fix", "ref": "refs/heads/feature/login/fix", "commit_sha": "ffac537e6cbbf934b08745a378932722df287a53",
				"head_sha": "", "merge_sha": "", "pull_request": "", "run_url": "https://github.com/octo-org/octo-repo/actions/runs/1658821493"}},
		{name: "push of a tag", env: base(map[string]string{"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.2.3",
			"GITHUB_REF_NAME": "v1.2.3", "GITHUB_REF_TYPE": "tag", "GITHUB_SHA": "aaaa"}),
			want: map[string]string{"branch": "v1.2.3", "ref": "refs/tags/v1.2.3", "pull_request": ""}},
		{name: "pull_request: GITHUB_SHA is the merge commit", env: base(map[string]string{"GITHUB_EVENT_NAME": "pull_request",
			"GITHUB_REF": "refs/pull/42/merge", "GITHUB_REF_NAME": "42/merge", "GITHUB_REF_TYPE": "branch",
			"GITHUB_HEAD_REF": "feature/login/fix", "GITHUB_BASE_REF": "main", "GITHUB_SHA": "3333333333333333333333333333333333333333"}),
			event: prEvent,
			want: map[string]string{"branch": "feature/login/fix", "pull_request": "42", "ref": "refs/pull/42/merge",
				"commit_sha": "3333333333333333333333333333333333333333", "merge_sha": "3333333333333333333333333333333333333333",
				"head_sha": "1111111111111111111111111111111111111111", "event": "pull_request"}},
		{name: "pull_request_target: GITHUB_SHA is the base branch's commit", env: base(map[string]string{"GITHUB_EVENT_NAME": "pull_request_target",
			"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch",
			"GITHUB_HEAD_REF": "feature/login/fix", "GITHUB_BASE_REF": "main", "GITHUB_SHA": "2222222222222222222222222222222222222222"}),
			event: prEvent,
			want: map[string]string{"branch": "feature/login/fix", "pull_request": "42", "ref": "refs/heads/main",
				"commit_sha": "2222222222222222222222222222222222222222", "merge_sha": "3333333333333333333333333333333333333333",
				"head_sha": "1111111111111111111111111111111111111111"}},
		{name: "pull_request_review: no GITHUB_HEAD_REF, GITHUB_REF_NAME is not a branch", env: base(map[string]string{"GITHUB_EVENT_NAME": "pull_request_review",
			"GITHUB_REF": "refs/pull/42/merge", "GITHUB_REF_NAME": "42/merge", "GITHUB_REF_TYPE": "branch",
			"GITHUB_SHA": "3333333333333333333333333333333333333333"}),
			event: prEvent,
			want: map[string]string{"branch": "feature/login/fix", "pull_request": "42", "head_sha": "1111111111111111111111111111111111111111",
				"merge_sha": "3333333333333333333333333333333333333333"}},
		{name: "pull_request without a readable payload", env: base(map[string]string{"GITHUB_EVENT_NAME": "pull_request",
			"GITHUB_REF": "refs/pull/9/merge", "GITHUB_REF_NAME": "9/merge", "GITHUB_HEAD_REF": "fix/a", "GITHUB_SHA": "m",
			"GITHUB_EVENT_PATH": "/nonexistent/event.json"}),
			want: map[string]string{"branch": "fix/a", "pull_request": "9", "merge_sha": "m", "head_sha": ""}},
		{name: "re-run attempt", env: base(map[string]string{"GITHUB_RUN_ATTEMPT": "3", "GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "s"}),
			want: map[string]string{"run_url": "https://github.com/octo-org/octo-repo/actions/runs/1658821493/attempts/3", "branch": "main"}},
	})
}

// TestAzureProviderDocumentedVariables uses Azure Pipelines' predefined variables as
// its documentation lists them (Build.SourceBranch, System.PullRequest.*).
func TestAzureProviderDocumentedVariables(t *testing.T) {
	base := func(m map[string]string) map[string]string {
		out := map[string]string{"TF_BUILD": "True", "BUILD_REPOSITORY_NAME": "app", "BUILD_BUILDID": "77",
			"SYSTEM_COLLECTIONURI": "https://dev.azure.com/fabrikam/", "SYSTEM_TEAMPROJECT": "Fabrikam Fiber"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	runCases(t, []ciCase{
		{name: "CI on a branch with slashes", env: base(map[string]string{"BUILD_REASON": "IndividualCI",
			"BUILD_SOURCEBRANCH": "refs/heads/users/raisa/new-feature", "BUILD_SOURCEBRANCHNAME": "new-feature", "BUILD_SOURCEVERSION": "c0ffee"}),
			want: map[string]string{"branch": "users/raisa/new-feature", "ref": "refs/heads/users/raisa/new-feature", "commit_sha": "c0ffee",
				"pull_request": "", "head_sha": "", "merge_sha": "",
				"run_url": "https://dev.azure.com/fabrikam/Fabrikam%20Fiber/_build/results?buildId=77"}},
		{name: "tag build", env: base(map[string]string{"BUILD_SOURCEBRANCH": "refs/tags/release/2024.1", "BUILD_SOURCEBRANCHNAME": "2024.1"}),
			want: map[string]string{"branch": "release/2024.1", "ref": "refs/tags/release/2024.1"}},
		{name: "Azure Repos pull request", env: base(map[string]string{"BUILD_REASON": "PullRequest",
			"BUILD_SOURCEBRANCH": "refs/pull/17/merge", "BUILD_SOURCEBRANCHNAME": "merge", "BUILD_SOURCEVERSION": "mergecommit",
			"SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/users/raisa/new-feature", "SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/main",
			"SYSTEM_PULLREQUEST_PULLREQUESTID": "17", "SYSTEM_PULLREQUEST_SOURCECOMMITID": "headcommit"}),
			want: map[string]string{"branch": "users/raisa/new-feature", "pull_request": "17", "head_sha": "headcommit",
				"merge_sha": "mergecommit", "commit_sha": "mergecommit", "ref": "refs/pull/17/merge", "event": "PullRequest"}},
		{name: "GitHub pull request: the number differs from the ID", env: base(map[string]string{"BUILD_REASON": "PullRequest",
			"BUILD_SOURCEBRANCH": "refs/pull/5/merge", "BUILD_SOURCEVERSION": "m5",
			"SYSTEM_PULLREQUEST_SOURCEBRANCH": "feature/gh", "SYSTEM_PULLREQUEST_PULLREQUESTID": "1234567890",
			"SYSTEM_PULLREQUEST_PULLREQUESTNUMBER": "5", "SYSTEM_PULLREQUEST_SOURCECOMMITID": "h5"}),
			want: map[string]string{"branch": "feature/gh", "pull_request": "5", "head_sha": "h5", "merge_sha": "m5"}},
		{name: "only Build.SourceBranchName", env: base(map[string]string{"BUILD_SOURCEBRANCHNAME": "main"}),
			want: map[string]string{"branch": "main"}},
	})
}

// TestGitLabProviderDocumentedVariables uses GitLab's predefined variables for branch,
// tag, merge request and merged results pipelines.
func TestGitLabProviderDocumentedVariables(t *testing.T) {
	base := func(m map[string]string) map[string]string {
		out := map[string]string{"GITLAB_CI": "true", "CI": "true", "CI_PROJECT_PATH": "gitlab-org/app",
			"CI_PROJECT_URL": "https://gitlab.example.com/gitlab-org/app", "CI_PIPELINE_ID": "1000",
			"CI_PIPELINE_URL": "https://gitlab.example.com/gitlab-org/app/-/pipelines/1000", "CI_JOB_NAME": "scan",
			"CI_REPOSITORY_URL": "https://gitlab-ci-token:glcbt-SECRET@gitlab.example.com/gitlab-org/app.git"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	runCases(t, []ciCase{
		{name: "branch pipeline", env: base(map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature/a/b",
			"CI_COMMIT_REF_NAME": "feature/a/b", "CI_COMMIT_SHA": "b1"}),
			want: map[string]string{"branch": "feature/a/b", "ref": "refs/heads/feature/a/b", "commit_sha": "b1", "pull_request": "", "head_sha": "",
				"run_url": "https://gitlab.example.com/gitlab-org/app/-/pipelines/1000", "repository_url": "https://gitlab.example.com/gitlab-org/app"}},
		{name: "tag pipeline", env: base(map[string]string{"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v2.0", "CI_COMMIT_REF_NAME": "v2.0", "CI_COMMIT_SHA": "t1"}),
			want: map[string]string{"branch": "v2.0", "ref": "refs/tags/v2.0", "commit_sha": "t1"}},
		{name: "merge request pipeline", env: base(map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event",
			"CI_MERGE_REQUEST_IID": "12", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix/x", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
			"CI_MERGE_REQUEST_REF_PATH": "refs/merge-requests/12/head", "CI_COMMIT_REF_NAME": "fix/x", "CI_COMMIT_SHA": "h12"}),
			want: map[string]string{"branch": "fix/x", "pull_request": "12", "ref": "refs/merge-requests/12/head",
				"commit_sha": "h12", "head_sha": "h12", "merge_sha": "", "event": "merge_request_event"}},
		{name: "merged results pipeline", env: base(map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event",
			"CI_MERGE_REQUEST_IID": "13", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix/y", "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "h13",
			"CI_MERGE_REQUEST_TARGET_BRANCH_SHA": "base13", "CI_MERGE_REQUEST_REF_PATH": "refs/merge-requests/13/head", "CI_COMMIT_SHA": "m13"}),
			want: map[string]string{"branch": "fix/y", "pull_request": "13", "commit_sha": "m13", "head_sha": "h13", "merge_sha": "m13"}},
		{name: "external pull request pipeline", env: base(map[string]string{"CI_PIPELINE_SOURCE": "external_pull_request_event",
			"CI_EXTERNAL_PULL_REQUEST_IID": "4", "CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME": "gh/z",
			"CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA": "h4", "CI_COMMIT_SHA": "h4"}),
			want: map[string]string{"branch": "gh/z", "pull_request": "4", "head_sha": "h4"}},
	})
}

// TestJenkinsProviderDocumentedVariables uses Jenkins' multibranch and Git plugin
// variables.
func TestJenkinsProviderDocumentedVariables(t *testing.T) {
	base := func(m map[string]string) map[string]string {
		out := map[string]string{"JENKINS_URL": "https://ci.example.com/", "JOB_NAME": "app/feature%2Fa", "BUILD_NUMBER": "8",
			"BUILD_URL": "https://ci.example.com/job/app/job/feature%252Fa/8/"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	runCases(t, []ciCase{
		{name: "multibranch branch build", env: base(map[string]string{"BRANCH_NAME": "feature/a", "GIT_COMMIT": "c8",
			"GIT_BRANCH": "feature/a", "GIT_URL": "https://github.com/acme/app.git"}),
			want: map[string]string{"branch": "feature/a", "ref": "refs/heads/feature/a", "commit_sha": "c8", "pull_request": "",
				"run_url": "https://ci.example.com/job/app/job/feature%252Fa/8/", "repository_url": "https://github.com/acme/app.git"}},
		{name: "multibranch change request: BRANCH_NAME is PR-7", env: base(map[string]string{"BRANCH_NAME": "PR-7", "CHANGE_ID": "7",
			"CHANGE_BRANCH": "feature/b/c", "CHANGE_TARGET": "main", "CHANGE_AUTHOR": "alice", "GIT_COMMIT": "m7"}),
			want: map[string]string{"branch": "feature/b/c", "pull_request": "7", "event": "pull_request", "commit_sha": "m7", "actor": "alice", "head_sha": ""}},
		{name: "multibranch tag build", env: base(map[string]string{"BRANCH_NAME": "v3.1", "TAG_NAME": "v3.1", "GIT_COMMIT": "t3"}),
			want: map[string]string{"branch": "v3.1", "ref": "refs/tags/v3.1", "event": "tag"}},
		{name: "freestyle job with the Git plugin", env: base(map[string]string{"GIT_BRANCH": "origin/release/1.x", "GIT_COMMIT": "g1",
			"GIT_URL": "https://builder:s3cr3t-token@git.example.com/acme/app.git"}),
			want: map[string]string{"branch": "release/1.x", "ref": "refs/heads/release/1.x", "repository_url": "https://git.example.com/acme/app.git"}},
	})
}

// TestNoSecretInContext: tokens in URLs and variables the detection does not read never
// reach a field.
func TestNoSecretInContext(t *testing.T) {
	for _, env := range []map[string]string{
		{"GITLAB_CI": "true", "CI_PROJECT_URL": "https://oauth2:glpat-SECRET@gitlab.example.com/g/app", "CI_JOB_TOKEN": "glcbt-SECRET",
			"CI_REPOSITORY_URL": "https://gitlab-ci-token:glcbt-SECRET@gitlab.example.com/g/app.git", "CI_PIPELINE_URL": "https://u:SECRET@gitlab.example.com/p/1"},
		{"TF_BUILD": "True", "BUILD_REPOSITORY_URI": "https://user:SECRET@dev.azure.com/org/p/_git/app", "SYSTEM_ACCESSTOKEN": "SECRET"},
		{"JENKINS_URL": "https://ci/", "GIT_URL": "https://x:SECRET@github.com/a/b.git", "BUILD_URL": "https://admin:SECRET@ci/job/a/1/"},
		{"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "SECRET", "GITHUB_SERVER_URL": "https://x:SECRET@ghe.example.com", "GITHUB_REPOSITORY": "a/b", "GITHUB_RUN_ID": "1"},
	} {
		c, err := Detect(envOf(env), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		if strings.Contains(string(b), "SECRET") {
			t.Errorf("a secret reached the context: %s", b)
		}
	}
}

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

// readEnvFile reads KEY=VALUE lines (as the case's .env files hold them).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestCaseAzureBranchWithSlash is cases/azure-branch-with-slash: Azure keeps only the
// text after the last "/" in Build.SourceBranchName; the branch is feature/login-fix.
func TestCaseAzureBranchWithSlash(t *testing.T) {
	dir := filepath.Join(testdata(t), "cases", "azure-branch-with-slash")
	push, err := Detect(envOf(readEnvFile(t, filepath.Join(dir, "ci-push.env"))), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if push.Provider != "Azure Pipelines" || push.Branch != "feature/login-fix" || push.Ref != "refs/heads/feature/login-fix" ||
		push.CommitSHA != "3f2c1e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f40" || push.PullRequest != "" || push.HeadSHA != "" ||
		push.RunURL != "https://dev.azure.com/example-org/example-project/_build/results?buildId=4711" {
		t.Errorf("push: %+v", push)
	}
	pr, err := Detect(envOf(readEnvFile(t, filepath.Join(dir, "ci-pr.env"))), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Branch != "feature/login-fix" || pr.PullRequest != "42" || pr.Ref != "refs/pull/42/merge" ||
		pr.HeadSHA != "3f2c1e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f40" || pr.MergeSHA != "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b" ||
		pr.CommitSHA != "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b" || pr.Event != "PullRequest" {
		t.Errorf("pull request: %+v", pr)
	}
}

func TestShortRefAndPullRef(t *testing.T) {
	for in, want := range map[string]string{"refs/heads/a/b/c": "a/b/c", "refs/tags/v1/rc": "v1/rc", "refs/pull/3/merge": "",
		"main": "main", "feature/x": "feature/x", "refs/merge-requests/1/head": "", "": ""} {
		if got := shortRef(in); got != want {
			t.Errorf("shortRef(%q) = %q, want %q", in, got, want)
		}
	}
	if n, k := pullRef("refs/pull/12/merge"); n != "12" || k != "merge" {
		t.Errorf("pullRef: %s %s", n, k)
	}
	if n, _ := pullRef("refs/pull/x/merge"); n != "" {
		t.Errorf("pullRef of a non-number: %s", n)
	}
}
