//go:build e2e

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func init() {
	daemonTests = append(daemonTests,
		daemonTest{"BaselineNewOnlyBlocksWhatTheChangeAdded", testBaselineNewOnlyBlocksWhatTheChangeAdded},
		daemonTest{"BaselineAutoComparesWithTheRegistry", testBaselineAutoComparesWithTheRegistry},
		daemonTest{"BaselineThatCannotBeReadFailsClosed", testBaselineThatCannotBeReadFailsClosed},
		daemonTest{"BaselineFromAMultiPlatformIndexInTheRegistry", testBaselineFromAMultiPlatformIndexInTheRegistry},
	)
}

// baselineImages builds, on the clean Alpine 3.10.4 image (no finding under the fixture
// DB), the images the baseline tests compare:
//
//	base  alpine 3.10.4
//	b     base + a layer whose apk database adds musl-dbg 1.1.20-r3 (origin musl:
//	      CVE-2019-14697, CRITICAL)
//	c     b + a layer that upgrades musl-dbg to 1.1.20-r4 (still CVE-2019-14697: an
//	      upgrade that keeps the CVE) and adds lodash 4.17.4 under app/node_modules
//	      (CVE-2019-10744, CRITICAL)
//
// It returns the three references (REGISTRY/e2e/baseline:base, :b, :c).
func baselineImages(t *testing.T) (base, b, c string) {
	t.Helper()
	base = env.Registry + "/e2e/baseline:base"
	loadImage(t, "images/alpine-3.10.4.tar.gz", base)
	installed := alpineInstalled(t)
	apk := func(version string) string {
		return installed + "C:Q1demo=\nP:musl-dbg\nV:" + version + "\nA:x86_64\nS:1024\nI:4096\nT:musl debug symbols\nU:https://musl.libc.org\nL:MIT\no:musl\n\n"
	}
	dir := t.TempDir()
	writeFile(t, dir, "installed", apk("1.1.20-r3"))
	writeFile(t, dir, "Dockerfile", "FROM "+base+"\nCOPY installed /lib/apk/db/installed\n")
	b = env.Registry + "/e2e/baseline:b"
	if r := docker(t, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "-t", b, dir); r.code != 0 {
		t.Fatalf("build b: %s", r)
	}
	dir = t.TempDir()
	writeFile(t, dir, "installed", apk("1.1.20-r4"))
	writeFile(t, dir, "package.json", `{"name": "lodash", "version": "4.17.4", "license": "MIT"}`)
	writeFile(t, dir, "Dockerfile", "FROM "+b+"\nCOPY installed /lib/apk/db/installed\nCOPY package.json /app/node_modules/lodash/package.json\n")
	c = env.Registry + "/e2e/baseline:c"
	if r := docker(t, []string{"DOCKER_BUILDKIT=0"}, "build", "-q", "-t", c, dir); r.code != 0 {
		t.Fatalf("build c: %s", r)
	}
	return base, b, c
}

// alpineInstalled is the apk database of the Alpine 3.10.4 test image, read in place.
func alpineInstalled(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, "images/alpine-3.10.4.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no layer with lib/apk/db/installed in alpine-3.10.4: %v", err)
		}
		if !strings.HasSuffix(h.Name, "/layer.tar") {
			continue
		}
		lr := tar.NewReader(tr)
		for {
			lh, err := lr.Next()
			if err != nil {
				break
			}
			if strings.TrimPrefix(lh.Name, "./") == "lib/apk/db/installed" {
				b, err := io.ReadAll(lr)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				if !strings.HasSuffix(s, "\n\n") {
					s = strings.TrimRight(s, "\n") + "\n\n"
				}
				return s
			}
		}
	}
}

// baselineReport is the part of a secscan-json report the baseline tests read.
type baselineReport struct {
	Verdict struct {
		Pass     bool
		Summary  string
		Blocking int
		Baseline *struct {
			Source                string
			New, Unchanged, Fixed int
			NewOnly               bool
		}
	}
	Findings []struct {
		Finding struct {
			VulnerabilityID string `json:"vulnerabilityID"`
			PkgName         string `json:"pkgName"`
		}
		Disposition string
		Change      string
	}
	Fixed []struct {
		Finding struct {
			VulnerabilityID string `json:"vulnerabilityID"`
			PkgName         string `json:"pkgName"`
		}
		Change string
	}
}

func readBaselineReport(t *testing.T, path string) baselineReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r baselineReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// changes lists "ID PACKAGE change disposition" of each finding, sorted, then the fixed
// ones as "ID PACKAGE fixed".
func (r baselineReport) changes() []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Finding.VulnerabilityID+" "+f.Finding.PkgName+" "+f.Change+" "+f.Disposition)
	}
	sort.Strings(out)
	for _, f := range r.Fixed {
		out = append(out, f.Finding.VulnerabilityID+" "+f.Finding.PkgName+" "+f.Change)
	}
	return out
}

// hasRow reports whether a line of the table starts with these fields.
func hasRow(table, fields string) bool {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(strings.Join(strings.Fields(l), " "), fields) {
			return true
		}
	}
	return false
}

// sarifStates lists "ruleId=baselineState" of each SARIF result, sorted.
func sarifStates(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Runs []struct {
			Results []struct {
				RuleID        string `json:"ruleId"`
				BaselineState string `json:"baselineState"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, run := range rep.Runs {
		for _, r := range run.Results {
			out = append(out, r.RuleID+"="+r.BaselineState)
		}
	}
	sort.Strings(out)
	return out
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testBaselineNewOnlyBlocksWhatTheChangeAdded (issue 14): an image against the base it
// was built on, then a change against the image before it, from a local image, a
// secscan-json report and a Trivy JSON report: with gate.new-only only what the change
// added blocks, the counts lead the table and the Markdown summary, SARIF results carry
// baselineState, and every finding stays in every report.
func testBaselineNewOnlyBlocksWhatTheChangeAdded(t *testing.T) {
	needTestdata(t)
	base, b, c := baselineImages(t)
	dir := t.TempDir()
	newOnly := writeFile(t, dir, "new-only.yaml", "version: 1\ngate:\n  new-only: true\n")

	// b against its base (a local image): its one finding is new and blocks.
	bJSON, bSARIF, bMD := filepath.Join(dir, "b.json"), filepath.Join(dir, "b.sarif"), filepath.Join(dir, "b.md")
	r := secscan(t, "push", "--policy", newOnly, "--baseline", base, "--report", "secscan-json="+bJSON, "--report", "sarif="+bSARIF, "--report", "markdown="+bMD, b)
	if r.code != 2 || registryHasTag(t, env.Registry, "e2e/baseline", "b") {
		t.Fatalf("b adds a CRITICAL finding to its base: want exit 2 and nothing pushed: %s", r)
	}
	// (The best-practice checks of the base image are there in both: unchanged.)
	if first := strings.SplitN(r.stdout, "\n", 2)[0]; !strings.HasPrefix(first, "1 new, 2 unchanged, 0 fixed against the baseline "+base) {
		t.Fatalf("the table does not lead with the counts: %q\n%s", first, r)
	}
	rep := readBaselineReport(t, bJSON)
	sameList(t, "b against base", rep.changes(), []string{"CIS-DI-0001  unchanged warning", "CIS-DI-0006  unchanged warning", "CVE-2019-14697 musl-dbg new blocking"})
	if bl := rep.Verdict.Baseline; bl == nil || bl.New != 1 || bl.Unchanged != 2 || bl.Fixed != 0 || !bl.NewOnly || !strings.Contains(bl.Source, "local image") {
		t.Fatalf("verdict.baseline %+v", rep.Verdict.Baseline)
	}
	sameList(t, "b's SARIF", sarifStates(t, bSARIF), []string{"CIS-DI-0001=unchanged", "CIS-DI-0006=unchanged", "CVE-2019-14697=new"})
	if md, _ := os.ReadFile(bMD); !strings.Contains(string(md), "**1 new, 2 unchanged, 0 fixed** against the baseline") {
		t.Fatalf("markdown:\n%s", md)
	}

	// c against b (a local image, local: prefix): lodash is new and blocks; musl-dbg,
	// upgraded but still vulnerable, is unchanged and does not count, yet is reported.
	cJSON, cSARIF, cMD := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.sarif"), filepath.Join(dir, "c.md")
	r = secscan(t, "push", "--policy", newOnly, "--baseline", "local:"+b, "--report", "secscan-json="+cJSON, "--report", "sarif="+cSARIF, "--report", "markdown="+cMD, c)
	if r.code != 2 || registryHasTag(t, env.Registry, "e2e/baseline", "c") {
		t.Fatalf("c adds lodash's CRITICAL finding: want exit 2, nothing pushed: %s", r)
	}
	rep = readBaselineReport(t, cJSON)
	sameList(t, "c against b", rep.changes(), []string{"CIS-DI-0001  unchanged warning", "CIS-DI-0006  unchanged warning", "CVE-2019-10744 lodash new blocking", "CVE-2019-14697 musl-dbg unchanged in-baseline"})
	if rep.Verdict.Blocking != 1 || !strings.Contains(rep.Verdict.Summary, "1 CRITICAL in the baseline (not counted: gate.new-only)") {
		t.Fatalf("verdict %+v", rep.Verdict)
	}
	sameList(t, "c's SARIF", sarifStates(t, cSARIF), []string{"CIS-DI-0001=unchanged", "CIS-DI-0006=unchanged", "CVE-2019-10744=new", "CVE-2019-14697=unchanged"})
	table := r.stdout
	if !strings.HasPrefix(table, "1 new, 3 unchanged, 0 fixed against the baseline") ||
		strings.Index(table, "CVE-2019-10744") > strings.Index(table, "CVE-2019-14697") || !hasRow(table, "unchanged in-baseline CRITICAL CVE-2019-14697") {
		t.Fatalf("table (counts first, new first, unchanged listed):\n%s", table)
	}
	md, _ := os.ReadFile(cMD)
	if i, j := strings.Index(string(md), "**1 new, 3 unchanged, 0 fixed**"), strings.Index(string(md), "**blocked:"); i < 0 || j < i || !strings.Contains(string(md), "| new | blocking | CRITICAL | [CVE-2019-10744]") {
		t.Fatalf("markdown:\n%s", md)
	}

	// The same against b's secscan-json report, and against Trivy's JSON report of b.
	bTrivy := filepath.Join(dir, "b-trivy.json")
	if r := secscan(t, "scan", "-f", "json", "-o", bTrivy, b); r.code != 0 {
		t.Fatalf("scan b: %s", r)
	}
	for _, file := range []string{bJSON, bTrivy} {
		out := filepath.Join(dir, "c-vs-file.json")
		r = secscan(t, "scan", "--policy", newOnly, "--baseline", file, "-f", "secscan-json", "-o", out, c)
		if r.code != 0 {
			t.Fatalf("scan c against %s: %s", file, r)
		}
		sameList(t, "c against "+file, readBaselineReport(t, out).changes(), []string{"CIS-DI-0001  unchanged warning", "CIS-DI-0006  unchanged warning", "CVE-2019-10744 lodash new blocking", "CVE-2019-14697 musl-dbg unchanged in-baseline"})
	}

	// With an exception for the new finding, c passes under new-only and is pushed,
	// though it holds a CRITICAL finding its baseline had: the gate blocks what a change
	// makes worse.
	expires := time.Now().AddDate(0, 1, 0).UTC().Format(time.DateOnly)
	pol := writeFile(t, dir, "except.yaml", "version: 1\ngate:\n  new-only: true\nexceptions:\n  - id: CVE-2019-10744\n    reason: test\n    expires: "+expires+"\n")
	r = secscan(t, "push", "--policy", pol, "--baseline", "local:"+b, c)
	if r.code != 0 || !registryHasTag(t, env.Registry, "e2e/baseline", "c") || !hasRow(r.stdout, "unchanged in-baseline CRITICAL CVE-2019-14697") {
		t.Fatalf("c with its new finding excepted should pass under new-only: %s", r)
	}
	// Without new-only the comparison decides nothing: the unchanged CRITICAL blocks.
	r = secscan(t, "scan", "--exit-code", "--baseline", "local:"+b, c)
	if r.code != 2 || !strings.Contains(r.stdout, "1 new, 3 unchanged, 0 fixed") {
		t.Fatalf("without new-only an unchanged CRITICAL blocks: %s", r)
	}

	// The base against b: b's finding is fixed, listed as such, and SARIF marks it absent.
	baseJSON, baseSARIF := filepath.Join(dir, "base.json"), filepath.Join(dir, "base.sarif")
	r = secscan(t, "scan", "--baseline", bJSON, "-f", "secscan-json", "-o", baseJSON, "--report", "sarif="+baseSARIF, "--report", "table="+filepath.Join(dir, "base.txt"), base)
	if r.code != 0 {
		t.Fatalf("scan base against b: %s", r)
	}
	sameList(t, "base against b", readBaselineReport(t, baseJSON).changes(), []string{"CIS-DI-0001  unchanged warning", "CIS-DI-0006  unchanged warning", "CVE-2019-14697 musl-dbg fixed"})
	sameList(t, "base's SARIF", sarifStates(t, baseSARIF), []string{"CIS-DI-0001=unchanged", "CIS-DI-0006=unchanged", "CVE-2019-14697=absent"})
	if tb := mustRead(t, filepath.Join(dir, "base.txt")); !strings.HasPrefix(tb, "0 new, 2 unchanged, 1 fixed against the baseline "+bJSON+" (secscan-json)") || !hasRow(tb, "fixed fixed CRITICAL CVE-2019-14697 musl-dbg") {
		t.Fatalf("table of a fixed finding:\n%s", tb)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testBaselineAutoComparesWithTheRegistry (issue 14): --baseline auto compares with the
// tag being pushed as the registry serves it now, read from the registry without
// touching the local store: the local tag keeps naming the image under test.
func testBaselineAutoComparesWithTheRegistry(t *testing.T) {
	needTestdata(t)
	base, b, c := baselineImages(t)
	deployed := env.Registry + "/e2e/baseline:deployed"
	mustDocker(t, "tag", b, deployed)
	mustDocker(t, "push", deployed)
	deployedDigest := registryTagDigest(t, env.Registry, "e2e/baseline", "deployed")

	// The change (c) is tagged as the deployed tag and pushed with --baseline auto.
	mustDocker(t, "tag", c, deployed)
	cID := imageID(t, c)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	r := secscan(t, "push", "--new-only", "--baseline", "auto", "-f", "secscan-json", "-o", out, deployed)
	if r.code != 2 {
		t.Fatalf("c against the deployed b: lodash is new and blocks: %s", r)
	}
	rep := readBaselineReport(t, out)
	sameList(t, "c against the registry's b", rep.changes(), []string{"CIS-DI-0001  unchanged warning", "CIS-DI-0006  unchanged warning", "CVE-2019-10744 lodash new blocking", "CVE-2019-14697 musl-dbg unchanged in-baseline"})
	if bl := rep.Verdict.Baseline; bl == nil || !strings.Contains(bl.Source, "e2e/baseline:deployed") || !strings.Contains(bl.Source, "from the registry") {
		t.Fatalf("baseline source %+v", rep.Verdict.Baseline)
	}
	if got := imageID(t, deployed); got != cID {
		t.Fatalf("the local tag moved to %s (the image under test is %s): the baseline must not be pulled through the daemon", got, cID)
	}
	if got := registryTagDigest(t, env.Registry, "e2e/baseline", "deployed"); got != deployedDigest {
		t.Fatalf("the registry's tag changed to %s although the push was blocked", got)
	}
	// A second run takes the baseline's scan from the cache (same digest, same DB).
	r = secscan(t, "push", "--new-only", "--baseline", "auto", deployed)
	if r.code != 2 || !strings.Contains(r.stderr, "Using the scan of the baseline "+strings.TrimPrefix(deployed, "")) {
		t.Fatalf("second run: %s", r)
	}

	// auto on a tag the registry does not have yet (a first push): an error, unless the
	// policy says gate.baseline-missing: ignore.
	first := env.Registry + "/e2e/baseline:first"
	mustDocker(t, "tag", base, first)
	r = secscan(t, "push", "--baseline", "auto", first)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if r.code != 1 || registryHasTag(t, env.Registry, "e2e/baseline", "first") || !strings.Contains(last, "not in the registry yet") || !strings.Contains(last, "gate.baseline-missing: ignore") {
		t.Fatalf("first push with --baseline auto: want exit 1, one line, nothing pushed: %s", r)
	}
	ignore := writeFile(t, dir, "ignore.yaml", "version: 1\ngate:\n  new-only: true\n  baseline-missing: ignore\n")
	r = secscan(t, "push", "--policy", ignore, "--baseline", "auto", first)
	if r.code != 0 || !registryHasTag(t, env.Registry, "e2e/baseline", "first") || !strings.Contains(r.stderr, "note: no baseline: --baseline auto:") {
		t.Fatalf("first push with baseline-missing: ignore: %s", r)
	}
}

// testBaselineThatCannotBeReadFailsClosed (issue 14): a missing or corrupt baseline
// file, or an image nobody has: one line naming it and what to do, exit 1, nothing
// pushed; with gate.baseline-missing: ignore, a note and the gate as without baseline.
func testBaselineThatCannotBeReadFailsClosed(t *testing.T) {
	needTestdata(t)
	_, b, _ := baselineImages(t)
	dir := t.TempDir()
	corrupt := writeFile(t, dir, "corrupt.json", `{"schemaVersion": 1, "verdict": {"pass": true}, "findings": [{"finding": `)
	sarif := writeFile(t, dir, "report.sarif.json", `{"version": "2.1.0", "runs": []}`)
	for _, tc := range []struct{ arg, want string }{
		{filepath.Join(dir, "missing.json"), "missing.json: no such file"},
		{corrupt, "corrupt.json: not a JSON report"},
		{sarif, "neither a secscan-json report nor Trivy's JSON report"},
		{"registry:" + env.Registry + "/e2e/nobody:1", "its registry does not have it"},
		{env.Registry + "/e2e/nobody:1", "no such file, no such image in the local store, and its registry does not have it"},
		{"local:" + env.Registry + "/e2e/nobody:1", "--baseline local:"},
	} {
		r := secscan(t, "push", "--baseline", tc.arg, b)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		last := lines[len(lines)-1]
		if r.code != 1 || !strings.Contains(last, tc.want) || !strings.HasPrefix(last, "docker secscan: ") || registryHasTag(t, env.Registry, "e2e/baseline", "b") {
			t.Fatalf("--baseline %s: want exit 1, one line with %q, nothing pushed: %s", tc.arg, tc.want, r)
		}
		if strings.HasSuffix(tc.arg, ".json") && (strings.Contains(r.stderr, "Scanning ") || strings.Contains(r.stderr, "Using the scan of")) {
			t.Fatalf("--baseline %s: a report that cannot be read must be refused before the scan: %s", tc.arg, r)
		}
	}
	// ignore: a note, then the gate as without baseline (b's CRITICAL blocks).
	ignore := writeFile(t, dir, "ignore.yaml", "version: 1\ngate:\n  new-only: true\n  baseline-missing: ignore\n")
	r := secscan(t, "push", "--policy", ignore, "--baseline", corrupt, b)
	if r.code != 2 || !strings.Contains(r.stderr, "note: no baseline: baseline "+corrupt) || strings.Contains(r.stdout, "unchanged") {
		t.Fatalf("baseline-missing: ignore: want the note and b blocked as without baseline: %s", r)
	}
	// A malformed argument is refused before anything is scanned.
	if r := secscan(t, "scan", "--baseline", "Not An Image", b); r.code != 1 || strings.Contains(r.stderr, "Scanning") {
		t.Fatalf("malformed --baseline: %s", r)
	}
}

// testBaselineFromAMultiPlatformIndexInTheRegistry (issue 14, Docker 29): a two-platform
// image pushed as an index is the baseline of the same image rebuilt: its platform images
// are read from the registry (not the local store) and scanned through the engine from
// the index, every finding is unchanged; with --platform only that platform is read; and
// `build --baseline auto` compares the build with its -t tag in the registry.
func testBaselineFromAMultiPlatformIndexInTheRegistry(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	cache := caseDB(t, "nested-oci-index")
	ctxDir := twoPlatformContext(t)
	deployed := env.Registry + "/e2e/blmulti:deployed"
	if r := docker(t, nil, "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", deployed, ctxDir); r.code != 0 {
		t.Fatalf("two-platform build: %s", r)
	}
	mustDocker(t, "push", deployed)
	index := registryTagDigest(t, env.Registry, "e2e/blmulti", "deployed")
	local := env.Registry + "/e2e/blmulti:local"
	mustDocker(t, "tag", deployed, local)
	args := func(more ...string) []string {
		return append([]string{"secscan", "scan", "--no-progress", "--skip-db-update", "--cache-dir", cache}, more...)
	}
	report := filepath.Join(t.TempDir(), "r.json")
	r := docker(t, nil, args("--baseline", "registry:"+deployed, "-f", "secscan-json", "-o", report, local)...)
	// (The same digest as the local image: its scan may come from the scan cache.)
	shown := "the baseline " + deployed + " (" + index[:19] + ", from the registry)"
	if r.code != 0 || !strings.Contains(r.stderr, "Scanning "+shown) && !strings.Contains(r.stderr, "Using the scan of "+shown) {
		t.Fatalf("scan against the registry's index: %s", r)
	}
	rep := readBaselineReport(t, report)
	bl := rep.Verdict.Baseline
	if bl == nil || bl.New != 0 || bl.Fixed != 0 || bl.Unchanged != len(rep.Findings) || !strings.Contains(bl.Source, "from the registry") || !strings.Contains(bl.Source, index[:19]) {
		t.Fatalf("the same image against its pushed index: %+v\n%s", bl, r)
	}
	vulns := 0
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Finding.VulnerabilityID, "CVE-2099-0801") {
			vulns++
		}
	}
	if vulns != 3 {
		t.Fatalf("arm64's three findings should be there (unchanged): %v", rep.changes())
	}

	// --platform linux/amd64: the clean platform against the index's amd64 image only;
	// its findings (none of arm64's) stay unchanged and arm64's are not "fixed".
	r = docker(t, nil, args("--platform", "linux/amd64", "--baseline", "registry:"+deployed, "-f", "secscan-json", "-o", report, local)...)
	if r.code != 0 {
		t.Fatalf("--platform linux/amd64: %s", r)
	}
	if bl := readBaselineReport(t, report).Verdict.Baseline; bl == nil || bl.New != 0 || bl.Fixed != 0 {
		t.Fatalf("--platform linux/amd64 against the index: %+v\n%s", bl, r)
	}

	// build --baseline auto: the rebuilt image against its tag in the registry.
	r = docker(t, nil, "secscan", "build", "--no-progress", "--skip-db-update", "--cache-dir", cache, "--baseline", "auto", "--new-only", "--report", "secscan-json="+report,
		"--platform", "linux/amd64,linux/arm64", "-t", deployed, ctxDir)
	if bl := readBaselineReport(t, report).Verdict.Baseline; bl == nil || bl.New != 0 || !strings.Contains(bl.Source, "e2e/blmulti:deployed") {
		t.Fatalf("build --baseline auto: %+v\n%s", bl, r)
	}
	if r.code != 0 {
		t.Fatalf("build --baseline auto --new-only of an image whose findings are all in the deployed one passes: %s", r)
	}
}
