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
	Branch        string `json:"branch"`
	CommitSHA     string `json:"commitSha"`
	HeadSHA       string `json:"headSha"` // the pull request's head commit, when the run is for a PR
	Actor         string `json:"actor"`
}

// Fields maps field names (as in SECSCAN_CI_<NAME> and --ci NAME=VALUE, lower-case with
// underscores) to the fields of c.
func (c *Context) Fields() map[string]*string {
	return map[string]*string{
		"provider": &c.Provider, "repository": &c.Repository, "repository_url": &c.RepositoryURL,
		"workflow": &c.Workflow, "job": &c.Job, "run_id": &c.RunID, "run_attempt": &c.RunAttempt,
		"run_url": &c.RunURL, "event": &c.Event, "ref": &c.Ref, "branch": &c.Branch,
		"commit_sha": &c.CommitSHA, "head_sha": &c.HeadSHA, "actor": &c.Actor,
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

// github follows GitHub's default environment variables
// (docs.github.com/actions/reference/variables-reference).
func github(env Getenv) Context {
	server := strings.TrimSuffix(env("GITHUB_SERVER_URL"), "/")
	if server == "" {
		server = "https://github.com"
	}
	repo := env("GITHUB_REPOSITORY")
	c := Context{
		Provider: "GitHub Actions", Repository: repo, Workflow: env("GITHUB_WORKFLOW"), Job: env("GITHUB_JOB"),
		RunID: env("GITHUB_RUN_ID"), RunAttempt: env("GITHUB_RUN_ATTEMPT"), Event: env("GITHUB_EVENT_NAME"),
		Ref: env("GITHUB_REF"), Branch: env("GITHUB_HEAD_REF"), CommitSHA: env("GITHUB_SHA"), Actor: env("GITHUB_ACTOR"),
	}
	if c.Branch == "" && env("GITHUB_REF_TYPE") == "branch" {
		c.Branch = env("GITHUB_REF_NAME")
	}
	if c.Branch == "" {
		c.Branch = strings.TrimPrefix(c.Ref, "refs/heads/")
		if c.Branch == c.Ref {
			c.Branch = ""
		}
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
	// For pull requests GITHUB_SHA is the merge commit; the head commit is in the event.
	if p := env("GITHUB_EVENT_PATH"); p != "" {
		if b, err := readSmall(p); err == nil {
			var ev struct {
				PullRequest *struct {
					Head struct {
						SHA string `json:"sha"`
						Ref string `json:"ref"`
					} `json:"head"`
				} `json:"pull_request"`
			}
			if json.Unmarshal(b, &ev) == nil && ev.PullRequest != nil {
				c.HeadSHA = ev.PullRequest.Head.SHA
				if c.Branch == "" {
					c.Branch = ev.PullRequest.Head.Ref
				}
			}
		}
	}
	return c
}

// azure follows Azure Pipelines' predefined variables.
func azure(env Getenv) Context {
	c := Context{
		Provider: "Azure Pipelines", Repository: env("BUILD_REPOSITORY_NAME"), RepositoryURL: env("BUILD_REPOSITORY_URI"),
		Workflow: env("BUILD_DEFINITIONNAME"), Job: env("SYSTEM_JOBDISPLAYNAME"), RunID: env("BUILD_BUILDID"),
		RunAttempt: env("SYSTEM_JOBATTEMPT"), Event: env("BUILD_REASON"), Ref: env("BUILD_SOURCEBRANCH"),
		Branch: env("BUILD_SOURCEBRANCHNAME"), CommitSHA: env("BUILD_SOURCEVERSION"), Actor: env("BUILD_REQUESTEDFOR"),
		HeadSHA: env("SYSTEM_PULLREQUEST_SOURCECOMMITID"),
	}
	if b := env("SYSTEM_PULLREQUEST_SOURCEBRANCH"); b != "" {
		c.Branch = strings.TrimPrefix(b, "refs/heads/")
	}
	if coll, proj := env("SYSTEM_COLLECTIONURI"), env("SYSTEM_TEAMPROJECT"); coll != "" && proj != "" && c.RunID != "" {
		c.RunURL = strings.TrimSuffix(coll, "/") + "/" + proj + "/_build/results?buildId=" + c.RunID
	}
	return c
}

// gitlab follows GitLab CI/CD's predefined variables.
func gitlab(env Getenv) Context {
	c := Context{
		Provider: "GitLab CI", Repository: env("CI_PROJECT_PATH"), RepositoryURL: env("CI_PROJECT_URL"),
		Workflow: env("CI_PIPELINE_NAME"), Job: env("CI_JOB_NAME"), RunID: env("CI_PIPELINE_ID"),
		RunURL: env("CI_PIPELINE_URL"), Event: env("CI_PIPELINE_SOURCE"), Branch: env("CI_COMMIT_BRANCH"),
		CommitSHA: env("CI_COMMIT_SHA"), Actor: env("GITLAB_USER_LOGIN"),
		HeadSHA: env("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"),
	}
	if c.Branch == "" {
		c.Branch = env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
	}
	if c.Branch != "" {
		c.Ref = "refs/heads/" + c.Branch
	}
	if t := env("CI_COMMIT_TAG"); t != "" {
		c.Ref = "refs/tags/" + t
	}
	return c
}

// jenkins follows Jenkins' and the Git plugin's environment variables.
func jenkins(env Getenv) Context {
	c := Context{
		Provider: "Jenkins", RepositoryURL: env("GIT_URL"), Workflow: env("JOB_NAME"), RunID: env("BUILD_NUMBER"),
		RunURL: env("BUILD_URL"), CommitSHA: env("GIT_COMMIT"), Branch: env("BRANCH_NAME"), Actor: env("BUILD_USER_ID"),
	}
	if c.Branch == "" {
		c.Branch = strings.TrimPrefix(env("GIT_BRANCH"), "origin/")
	}
	if env("CHANGE_ID") != "" {
		c.Event = "pull_request"
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
