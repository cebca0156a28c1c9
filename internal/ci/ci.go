// Package ci detects where a scan runs: the CI provider and its run, repository,
// commit and branch, from the environment variables each provider documents. Every
// field can be overridden with SECSCAN_CI_<FIELD> (e.g. SECSCAN_CI_COMMIT_SHA) or the
// --ci FIELD=VALUE flag.
package ci

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// Context is the CI context of a scan. Empty fields are unknown.
type Context struct {
	Provider      string `json:"provider"`      // "GitHub Actions", "Azure Pipelines", "GitLab CI", "Jenkins", "local"
	Repository    string `json:"repository"`    // owner/name or project path
	RepositoryURL string `json:"repositoryUrl"` // web URL of the repository
	Workflow      string `json:"workflow"`      // workflow, pipeline or job definition name
	Job           string `json:"job"`
	RunID         string `json:"runId"`
	RunAttempt    string `json:"runAttempt"`
	RunURL        string `json:"runUrl"`
	Event         string `json:"event"` // push, pull_request, PullRequest, merge_request_event, ...
	Ref           string `json:"ref"`   // refs/heads/main, refs/pull/7/merge
	// Branch is the branch built, whole (feature/x/y), or the tag name of a tag build;
	// for a pull request, its source branch.
	Branch      string `json:"branch"`
	PullRequest string `json:"pullRequest"` // the pull/merge request's number, when the run is for one
	CommitSHA   string `json:"commitSha"`   // the commit the run built (for a PR, often the merge commit)
	HeadSHA     string `json:"headSha"`     // the pull request's head commit, when the run is for a PR
	MergeSHA    string `json:"mergeSha"`    // the PR's test merge commit, when the provider made one
	Actor       string `json:"actor"`
}

// Fields maps field names (as in SECSCAN_CI_<NAME> and --ci NAME=VALUE, lower-case with
// underscores) to the fields of c.
func (c *Context) Fields() map[string]*string {
	return map[string]*string{
		"provider": &c.Provider, "repository": &c.Repository, "repository_url": &c.RepositoryURL,
		"workflow": &c.Workflow, "job": &c.Job, "run_id": &c.RunID, "run_attempt": &c.RunAttempt,
		"run_url": &c.RunURL, "event": &c.Event, "ref": &c.Ref, "branch": &c.Branch, "pull_request": &c.PullRequest,
		"commit_sha": &c.CommitSHA, "head_sha": &c.HeadSHA, "merge_sha": &c.MergeSHA, "actor": &c.Actor,
	}
}

// FieldNames lists the overridable field names, sorted.
func FieldNames() []string {
	var c Context
	var out []string
	for k := range c.Fields() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Getenv is os.Getenv's shape, so tests can pass a map.
type Getenv func(string) string

// Detect reads the provider's variables (GitHub Actions, Azure Pipelines, GitLab CI,
// Jenkins; else a local run described by git in dir), then applies SECSCAN_CI_*
// overrides and the overrides given as "field=value".
func Detect(env Getenv, dir string, overrides []string) (Context, error) {
	var c Context
	switch {
	case env("GITHUB_ACTIONS") == "true":
		c = github(env)
	case strings.EqualFold(env("TF_BUILD"), "true"):
		c = azure(env)
	case env("GITLAB_CI") == "true":
		c = gitlab(env)
	case env("JENKINS_URL") != "":
		c = jenkins(env)
	default:
		c = local(dir)
	}
	fields := c.Fields()
	for name, p := range fields {
		if v := env("SECSCAN_CI_" + strings.ToUpper(name)); v != "" {
			*p = v
		}
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		p, known := fields[strings.ToLower(strings.ReplaceAll(strings.TrimSpace(k), "-", "_"))]
		if !ok {
			return c, fmt.Errorf("--ci needs FIELD=VALUE (FIELD one of %s)", strings.Join(FieldNames(), ", "))
		}
		if !known {
			// Name the field only: the value may hold a credential.
			return c, fmt.Errorf("--ci %q=...: use FIELD=VALUE with FIELD one of %s", k, strings.Join(FieldNames(), ", "))
		}
		*p = v
	}
	// Credentials in URLs (https://user:token@host/...) never leave the machine,
	// whether detected or given as an override.
	c.RepositoryURL, c.RunURL = stripUserinfo(c.RepositoryURL), stripUserinfo(c.RunURL)
	return c, nil
}

// stripUserinfo removes "user:password@" from a URL (also scp-like git URLs keep
// their user only when it is the conventional "git").
func stripUserinfo(s string) string {
	if s == "" {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.User != nil && u.Host != "" {
		u.User = nil
		return u.String()
	}
	return s
}

// shortRef returns the branch or tag name of a Git ref, whole: "refs/heads/feature/x/y"
// gives "feature/x/y", "refs/tags/v1.2" gives "v1.2"; other refs/ (refs/pull/7/merge,
// refs/merge-requests/3/head) give ""; a name without refs/ is returned as it is.
func shortRef(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if s, ok := strings.CutPrefix(ref, p); ok {
			return s
		}
	}
	if strings.HasPrefix(ref, "refs/") {
		return ""
	}
	return ref
}

// pullRef reads a pull request's ref as GitHub and Azure Repos name it,
// refs/pull/<number>/merge or refs/pull/<number>/head: the number and the last part
// ("merge" or "head"), or "", "".
func pullRef(ref string) (number, kind string) {
	rest, ok := strings.CutPrefix(ref, "refs/pull/")
	if !ok {
		return "", ""
	}
	n, kind, ok := strings.Cut(rest, "/")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return "", ""
	}
	return n, kind
}

// github follows GitHub's default environment variables and event payloads
// (docs.github.com/actions/reference/variables-reference and "Events that trigger
// workflows"):
//   - a push: GITHUB_REF is refs/heads/<branch> or refs/tags/<tag>, GITHUB_SHA the commit;
//   - pull_request (and pull_request_review, pull_request_review_comment): GITHUB_REF is
//     refs/pull/<n>/merge and GITHUB_SHA that test merge commit (MergeSHA);
//     GITHUB_REF_NAME is "<n>/merge", not a branch;
//   - pull_request_target: GITHUB_REF and GITHUB_SHA are the base branch and its last
//     commit; the merge commit is the payload's pull_request.merge_commit_sha;
//   - for every pull request event the source branch is GITHUB_HEAD_REF (set for
//     pull_request and pull_request_target only) or the payload's pull_request.head.ref,
//     the head commit pull_request.head.sha and the number pull_request.number, in the
//     event payload at GITHUB_EVENT_PATH.
func github(env Getenv) Context {
	server := strings.TrimSuffix(env("GITHUB_SERVER_URL"), "/")
	if server == "" {
		server = "https://github.com"
	}
	repo := env("GITHUB_REPOSITORY")
	c := Context{
		Provider: "GitHub Actions", Repository: repo, Workflow: env("GITHUB_WORKFLOW"), Job: env("GITHUB_JOB"),
		RunID: env("GITHUB_RUN_ID"), RunAttempt: env("GITHUB_RUN_ATTEMPT"), Event: env("GITHUB_EVENT_NAME"),
		Ref: env("GITHUB_REF"), CommitSHA: env("GITHUB_SHA"), Actor: env("GITHUB_ACTOR"),
	}
	if repo != "" {
		c.RepositoryURL = server + "/" + repo
		if c.RunID != "" {
			c.RunURL = c.RepositoryURL + "/actions/runs/" + c.RunID
			if c.RunAttempt != "" && c.RunAttempt != "1" {
				c.RunURL += "/attempts/" + c.RunAttempt
			}
		}
	}
	pr := githubPullRequest(env("GITHUB_EVENT_PATH"))
	number, kind := pullRef(c.Ref)
	switch {
	case pr != nil || env("GITHUB_HEAD_REF") != "" || number != "":
		c.Branch = env("GITHUB_HEAD_REF")
		c.PullRequest = number
		if pr != nil {
			if c.Branch == "" {
				c.Branch = pr.Head.Ref
			}
			c.HeadSHA = pr.Head.SHA
			if pr.Number > 0 {
				c.PullRequest = fmt.Sprint(pr.Number)
			}
		}
		switch {
		case c.Event == "pull_request_target":
			if pr != nil && pr.MergeCommitSHA != nil {
				c.MergeSHA = *pr.MergeCommitSHA
			}
		case kind == "merge":
			c.MergeSHA = c.CommitSHA
		}
	default:
		c.Branch = shortRef(c.Ref)
		if c.Branch == "" && !strings.HasPrefix(c.Ref, "refs/") {
			c.Branch = env("GITHUB_REF_NAME")
		}
	}
	return c
}

// ghPullRequest is the part of a pull request event payload that we read.
type ghPullRequest struct {
	Number int `json:"number"`
	Head   struct {
		SHA string `json:"sha"`
		Ref string `json:"ref"`
	} `json:"head"`
	MergeCommitSHA *string `json:"merge_commit_sha"`
}

// githubPullRequest reads pull_request from the event payload at path; nil when there is
// none (another event, or no readable payload).
func githubPullRequest(path string) *ghPullRequest {
	if path == "" {
		return nil
	}
	b, err := readSmall(path)
	if err != nil {
		return nil
	}
	var ev struct {
		PullRequest *ghPullRequest `json:"pull_request"`
	}
	if json.Unmarshal(b, &ev) != nil {
		return nil
	}
	return ev.PullRequest
}

// azure follows Azure Pipelines' predefined variables
// (learn.microsoft.com/azure/devops/pipelines/build/variables):
//   - Build.SourceBranch (BUILD_SOURCEBRANCH) is refs/heads/<branch>, refs/tags/<tag> or,
//     for a pull request, refs/pull/<n>/merge; the branch is it without refs/heads/ or
//     refs/tags/, whole. Build.SourceBranchName keeps only the text after the last "/"
//     (login-fix for feature/login-fix) and is read only when Build.SourceBranch is not set;
//   - a pull request build: System.PullRequest.SourceBranch (stripped the same way),
//     System.PullRequest.PullRequestNumber (GitHub) or .PullRequestId (Azure Repos),
//     System.PullRequest.SourceCommitId (the head); Build.SourceVersion is then the
//     merge commit built.
func azure(env Getenv) Context {
	c := Context{
		Provider: "Azure Pipelines", Repository: env("BUILD_REPOSITORY_NAME"), RepositoryURL: env("BUILD_REPOSITORY_URI"),
		Workflow: env("BUILD_DEFINITIONNAME"), Job: env("SYSTEM_JOBDISPLAYNAME"), RunID: env("BUILD_BUILDID"),
		RunAttempt: env("SYSTEM_JOBATTEMPT"), Event: env("BUILD_REASON"), Ref: env("BUILD_SOURCEBRANCH"),
		CommitSHA: env("BUILD_SOURCEVERSION"), Actor: env("BUILD_REQUESTEDFOR"),
	}
	c.Branch = shortRef(c.Ref)
	if c.Ref == "" {
		c.Branch = env("BUILD_SOURCEBRANCHNAME")
	}
	number, kind := pullRef(c.Ref)
	if b := env("SYSTEM_PULLREQUEST_SOURCEBRANCH"); b != "" || number != "" || c.Event == "PullRequest" {
		c.Branch = shortRef(b)
		c.HeadSHA = env("SYSTEM_PULLREQUEST_SOURCECOMMITID")
		c.PullRequest = env("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER")
		if c.PullRequest == "" {
			c.PullRequest = env("SYSTEM_PULLREQUEST_PULLREQUESTID")
		}
		if c.PullRequest == "" {
			c.PullRequest = number
		}
		if kind == "merge" {
			c.MergeSHA = c.CommitSHA
		}
	}
	if coll, proj := env("SYSTEM_COLLECTIONURI"), env("SYSTEM_TEAMPROJECT"); coll != "" && proj != "" && c.RunID != "" {
		// A project name may hold spaces: it is a path segment of the URL.
		c.RunURL = strings.TrimSuffix(coll, "/") + "/" + url.PathEscape(proj) + "/_build/results?buildId=" + url.QueryEscape(c.RunID)
	}
	return c
}

// gitlab follows GitLab CI/CD's predefined variables
// (docs.gitlab.com/ci/variables/predefined_variables):
//   - branch pipelines: CI_COMMIT_BRANCH; tag pipelines: CI_COMMIT_TAG (CI_COMMIT_BRANCH is
//     not set in either merge request or tag pipelines);
//   - merge request pipelines: CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, CI_MERGE_REQUEST_IID,
//     CI_MERGE_REQUEST_REF_PATH (refs/merge-requests/<iid>/head); CI_COMMIT_SHA is the
//     source branch's head, except in merged results pipelines, where it is the merge
//     commit and the head is CI_MERGE_REQUEST_SOURCE_BRANCH_SHA (set only there);
//   - external pull request pipelines (GitHub repositories): CI_EXTERNAL_PULL_REQUEST_*.
func gitlab(env Getenv) Context {
	c := Context{
		Provider: "GitLab CI", Repository: env("CI_PROJECT_PATH"), RepositoryURL: env("CI_PROJECT_URL"),
		Workflow: env("CI_PIPELINE_NAME"), Job: env("CI_JOB_NAME"), RunID: env("CI_PIPELINE_ID"),
		RunURL: env("CI_PIPELINE_URL"), Event: env("CI_PIPELINE_SOURCE"), Branch: env("CI_COMMIT_BRANCH"),
		CommitSHA: env("CI_COMMIT_SHA"), Actor: env("GITLAB_USER_LOGIN"),
	}
	switch {
	case env("CI_MERGE_REQUEST_IID") != "":
		c.PullRequest = env("CI_MERGE_REQUEST_IID")
		c.Branch = env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
		c.Ref = env("CI_MERGE_REQUEST_REF_PATH")
		if head := env("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"); head != "" {
			c.HeadSHA, c.MergeSHA = head, c.CommitSHA
		} else {
			c.HeadSHA = c.CommitSHA
		}
	case env("CI_EXTERNAL_PULL_REQUEST_IID") != "":
		c.PullRequest = env("CI_EXTERNAL_PULL_REQUEST_IID")
		c.Branch = env("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME")
		c.HeadSHA = env("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA")
		if c.Branch != "" {
			c.Ref = "refs/heads/" + c.Branch
		}
	case env("CI_COMMIT_TAG") != "":
		c.Branch = env("CI_COMMIT_TAG")
		c.Ref = "refs/tags/" + c.Branch
	case c.Branch != "":
		c.Ref = "refs/heads/" + c.Branch
	}
	return c
}

// jenkins follows Jenkins' environment variables (jenkins.io "Pipeline: Multibranch"
// and the Git plugin's):
//   - multibranch: BRANCH_NAME is the branch built, but for a change request it is an
//     arbitrary name (PR-7): the source branch is CHANGE_BRANCH and the number CHANGE_ID;
//     a tag build has TAG_NAME;
//   - GIT_COMMIT is the commit built (for a pull request built merged with its target,
//     the merge commit: the head is not in the environment), GIT_BRANCH is
//     <remote>/<branch> outside multibranch jobs; BUILD_URL is the run.
func jenkins(env Getenv) Context {
	c := Context{
		Provider: "Jenkins", RepositoryURL: env("GIT_URL"), Workflow: env("JOB_NAME"), RunID: env("BUILD_NUMBER"),
		RunURL: env("BUILD_URL"), CommitSHA: env("GIT_COMMIT"), Branch: env("BRANCH_NAME"), Actor: env("BUILD_USER_ID"),
	}
	switch {
	case env("CHANGE_ID") != "":
		c.Event = "pull_request"
		c.PullRequest = env("CHANGE_ID")
		if b := env("CHANGE_BRANCH"); b != "" {
			c.Branch = b
		}
		if c.Actor == "" {
			c.Actor = env("CHANGE_AUTHOR")
		}
	case env("TAG_NAME") != "":
		c.Event = "tag"
		c.Branch = env("TAG_NAME")
		c.Ref = "refs/tags/" + c.Branch
	default:
		if c.Branch == "" {
			b := strings.TrimPrefix(env("GIT_BRANCH"), "refs/remotes/")
			b = strings.TrimPrefix(strings.TrimPrefix(b, "refs/heads/"), "origin/")
			c.Branch = b
		}
		if c.Branch != "" {
			c.Ref = "refs/heads/" + c.Branch
		}
	}
	return c
}

// local describes a developer's run with git, when git and a repository are there.
func local(dir string) Context {
	c := Context{Provider: "local", Event: "local"}
	// One git call (about 3 ms) for the work tree, the commit and the branch.
	cmd := exec.Command("git", "rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 3 {
		return c // no git, no repository, or no commit yet
	}
	c.Repository, c.CommitSHA = lines[0], lines[1]
	if b := lines[2]; b != "HEAD" {
		c.Branch = b
		c.Ref = "refs/heads/" + b
	}
	if u, err := os.UserHomeDir(); err == nil && strings.HasPrefix(c.Repository, u) {
		c.Repository = "~" + strings.TrimPrefix(c.Repository, u)
	}
	if who := os.Getenv("USER"); who != "" {
		c.Actor = who
	}
	return c
}

// readSmall reads a file of at most 16 MiB (GitHub's event payloads are far smaller).
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("%s is too large for an event payload", path)
	}
	return b, nil
}
