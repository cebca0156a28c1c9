//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-secscan/docker-secscan/internal/attest"
	"github.com/docker-secscan/docker-secscan/internal/attest/verdictschema"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

func init() {
	daemonTests = append(daemonTests, []daemonTest{
		{"AttachedRecordsAreVerified", testAttachedRecordsAreVerified},
		{"SignedRecordsPassCosign", testSignedRecordsPassCosign},
		{"AttachToEveryPlatformOfAnIndex", testAttachToEveryPlatformOfAnIndex},
		{"VerifyRescansTheAttachedSBOMWithTodaysDB", testVerifyRescansTheAttachedSBOMWithTodaysDB},
		{"BaselineAutoTakesTheAttachedRecord", testBaselineAutoTakesTheAttachedRecord},
		{"ImportedDBWithTheSameTimeIsUsed", testImportedDBWithTheSameTimeIsUsed},
		{"BadEngineIdleEnvWarns", testBadEngineIdleEnvWarns},
	}...)
}

// referrers lists the predicate types attached to registry/repo@digest, as any OCI
// 1.1 client reads them (go-containerregistry: the referrers API, else the referrers tag).
func referrers(t *testing.T, repo, digest string) []string {
	t.Helper()
	d, err := name.NewDigest(repo+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatalf("referrers of %s: %v", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, m := range im.Manifests {
		pt := m.Annotations[attest.AnnotationPredicateType]
		if pt == "" {
			pt = m.Annotations[attest.AnnotationBundlePredicateType]
		}
		types = append(types, attest.ShortType(pt))
	}
	return types
}

func pushedDigest(t *testing.T, stderr string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "Pushed "); ok {
			if i := strings.Index(rest, "@sha256:"); i > 0 {
				return strings.Fields(rest[i+1:])[0]
			}
		}
	}
	t.Fatalf("no pushed digest in: %s", stderr)
	return ""
}

// A clean image and a warn-mode push of alpine-39 each get the scan, the SBOM and the
// verdict as referrers of the pushed digest; verify says 0 and 2; an image pushed
// without records, 1.
func testAttachedRecordsAreVerified(t *testing.T) {
	needTestdata(t)
	repo := env.Registry + "/e2e/attest"
	clean := repo + ":clean"
	loadImage(t, "images/alpine-3.10.4.tar.gz", clean)
	r := secscan(t, "push", "--attach", "-o", filepath.Join(t.TempDir(), "r.txt"), clean)
	if r.code != 0 || !strings.Contains(r.stderr, "Attached the scan, SBOM and verdict") {
		t.Fatalf("push --attach of a clean image: %s", r)
	}
	digest := pushedDigest(t, r.stderr)
	got := referrers(t, repo, digest)
	if strings.Join(sorted(got), ",") != "cyclonedx,verdict,vuln" {
		t.Fatalf("records attached to %s: %v, want vuln, cyclonedx, verdict", digest, got)
	}
	// The records read back: Cosign's vuln predicate names Trivy, the verdict follows its schema.
	d, _ := name.NewDigest(repo+"@"+digest, name.Insecure)
	recs, err := attest.Find(d, "", nil)
	if err != nil || len(recs) != 3 {
		t.Fatalf("Find: %d, %v", len(recs), err)
	}
	for _, rec := range recs {
		if rec.Err != nil || !rec.Statement.About(digest) || rec.Statement.Subject[0].Name != repo {
			t.Fatalf("record %+v", rec)
		}
		switch rec.Statement.PredicateType {
		case attest.PredicateVuln:
			var p struct {
				Scanner struct {
					URI    string `json:"uri"`
					Result struct {
						ArtifactName string `json:"ArtifactName"`
					} `json:"result"`
				} `json:"scanner"`
			}
			if json.Unmarshal(rec.Statement.Predicate, &p); !strings.HasPrefix(p.Scanner.URI, "pkg:github/aquasecurity/trivy@") || p.Scanner.Result.ArtifactName == "" {
				t.Errorf("vuln predicate: %s", rec.Statement.Predicate)
			}
		case attest.PredicateVerdict:
			if err := verdictschema.Validate(rec.Statement.Predicate); err != nil {
				t.Error(err)
			}
		case attest.PredicateCycloneDX:
			if !strings.Contains(string(rec.Statement.Predicate), `"bomFormat":"CycloneDX"`) {
				t.Errorf("SBOM predicate: %.200s", rec.Statement.Predicate)
			}
		}
	}
	r = docker(t, nil, "secscan", "verify", clean)
	if r.code != 0 || !strings.Contains(r.stdout, "PASSED") {
		t.Fatalf("verify of the clean image: %s", r)
	}
	r = docker(t, nil, "secscan", "verify", "-f", "json", repo+"@"+digest)
	var rep struct {
		Outcome string `json:"outcome"`
		Checks  []struct {
			Record struct {
				Verdict string `json:"verdict"`
				Policy  struct{ Digest string }
			} `json:"record"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Outcome != "passed" || len(rep.Checks) != 1 || !strings.HasPrefix(rep.Checks[0].Record.Policy.Digest, "sha256:") {
		t.Fatalf("verify -f json: %v %s", err, r)
	}

	// Warn mode pushes alpine-39 with its CRITICAL findings: the record says so, verify exits 2.
	warn := repo + ":warn"
	loadImage(t, "images/alpine-39.tar.gz", warn)
	r = secscan(t, "push", "--mode", "warn", "--attach", "-o", filepath.Join(t.TempDir(), "r.txt"), warn)
	if r.code != 0 {
		t.Fatalf("push --mode warn --attach: %s", r)
	}
	r = docker(t, nil, "secscan", "verify", warn)
	if r.code != 2 || !strings.Contains(r.stdout, "blocked-but-pushed-in-warn-mode") {
		t.Fatalf("verify of a warn-mode push must exit 2: %s", r)
	}

	// An image pushed without the gate has no record: exit 1, one line. (Another
	// repository: the same image in this one has the clean push's records.)
	plain := env.Registry + "/e2e/attest-plain:1"
	mustDocker(t, "tag", clean, plain)
	mustDocker(t, "push", "-q", plain)
	r = docker(t, nil, "secscan", "verify", plain)
	if r.code != 1 || !strings.Contains(r.stderr, "no verdict record") {
		t.Fatalf("verify without a record must exit 1: %s", r)
	}
	// Nothing in the registry under that name: 1, one line.
	r = docker(t, nil, "secscan", "verify", repo+":nope")
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "is not in its registry") {
		t.Fatalf("verify of a missing tag: %s", r)
	}
	// NAME@DIGEST: the header names it once.
	if r = docker(t, nil, "secscan", "verify", repo+"@"+digest); r.code != 0 || strings.Count(r.stdout, digest) != 1 {
		t.Fatalf("verify NAME@DIGEST: %s", r)
	}
	// --attach=false wins over the policy's publish.attach: true.
	attachPol := filepath.Join(t.TempDir(), "attach.yaml")
	os.WriteFile(attachPol, []byte("version: 1\npublish:\n  attach: true\n"), 0o644)
	noAttach := env.Registry + "/e2e/attest-off:1"
	mustDocker(t, "tag", clean, noAttach)
	r = secscan(t, "push", "--policy", attachPol, "--attach=false", "-o", filepath.Join(t.TempDir(), "r.txt"), noAttach)
	if r.code != 0 || strings.Contains(r.stderr, "Attached the scan") {
		t.Fatalf("--attach=false with publish.attach: true: %s", r)
	}
	r = secscan(t, "push", "--policy", attachPol, "-o", filepath.Join(t.TempDir(), "r.txt"), noAttach)
	if r.code != 0 || !strings.Contains(r.stderr, "Attached the scan") {
		t.Fatalf("publish.attach: true: %s", r)
	}
	// Today's stricter policy would block the clean image's recorded findings (the
	// best-practice warnings alpine 3.10.4 has, and any vulnerability).
	strict := filepath.Join(t.TempDir(), ".secscan.yaml")
	os.WriteFile(strict, []byte("version: 1\ngate:\n  block: UNKNOWN\n  best-practices: block\n"), 0o644)
	r = docker(t, nil, "secscan", "verify", "--policy", strict, clean)
	if rep := recordedFindings(t, clean); rep > 0 {
		if r.code != 2 || !strings.Contains(r.stdout, "under "+strict+" today") {
			t.Fatalf("verify --policy (block everything) of an image with %d recorded findings: %s", rep, r)
		}
	} else if r.code != 0 {
		t.Fatalf("verify --policy of an image without findings: %s", r)
	}
	// --max-age 1ns: every record is too old.
	r = docker(t, nil, "secscan", "verify", "--max-age", "1ns", clean)
	if r.code != 1 || !strings.Contains(r.stderr, "max-age") {
		t.Fatalf("verify --max-age 1ns: %s", r)
	}
}

// recordedFindings counts the findings of ref's verdict record.
func recordedFindings(t *testing.T, ref string) int {
	t.Helper()
	r := docker(t, nil, "secscan", "verify", "-f", "json", ref)
	var rep struct {
		Checks []struct {
			Record struct {
				Counts struct{ Total int } `json:"counts"`
			} `json:"record"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Checks) == 0 {
		t.Fatalf("verify -f json: %v %s", err, r)
	}
	return rep.Checks[0].Record.Counts.Total
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// Records signed with a key from `cosign generate-key-pair` pass `cosign
// verify-attestation --key` and `docker secscan verify --key`; a verdict re-pushed with
// another key fails verify (1); a wrong password fails the push before anything is
// pushed.
func testSignedRecordsPassCosign(t *testing.T) {
	needTestdata(t)
	cosign, err := testenv.Cosign(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	gen := exec.Command(cosign, "generate-key-pair")
	gen.Dir = keys
	gen.Env = append(os.Environ(), "COSIGN_PASSWORD=e2e-pass")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	key, pub := filepath.Join(keys, "cosign.key"), filepath.Join(keys, "cosign.pub")
	repo := env.Registry + "/e2e/signed"
	ref := repo + ":1"
	loadImage(t, "images/alpine-3.10.4.tar.gz", ref)

	// A wrong password: nothing scanned or pushed.
	r := docker(t, []string{"COSIGN_PASSWORD=not-the-pass-42"}, secscanArgs("push", "--sign-key", key, ref)...)
	if r.code != 1 || registryHasTag(t, env.Registry, "e2e/signed", "1") || !strings.Contains(r.stderr, "COSIGN_PASSWORD") || strings.Contains(r.stderr+r.stdout, "not-the-pass-42") {
		t.Fatalf("a wrong key password must fail before the push, without echoing it: %s", r)
	}
	r = docker(t, []string{"COSIGN_PASSWORD=e2e-pass"}, secscanArgs("push", "--sign-key", key, "-o", filepath.Join(t.TempDir(), "r.txt"), ref)...)
	if r.code != 0 || !strings.Contains(r.stderr, "signed with") {
		t.Fatalf("push --sign-key: %s", r)
	}
	digest := pushedDigest(t, r.stderr)
	for _, typ := range []string{"vuln", "cyclonedx", attest.PredicateVerdict} {
		cmd := exec.Command(cosign, "verify-attestation", "--key", pub, "--type", typ, "--insecure-ignore-tlog=true",
			"--allow-http-registry", "--allow-insecure-registry", repo+"@"+digest)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+configDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cosign verify-attestation --type %s: %v\n%s", typ, err, out)
		}
	}
	if r := docker(t, nil, "secscan", "verify", "--key", pub, ref); r.code != 0 || !strings.Contains(r.stdout, "signature verified") {
		t.Fatalf("verify --key: %s", r)
	}
	// Someone pushes a changed verdict signed with another key: the digest no longer verifies.
	otherKeys := t.TempDir()
	gen = exec.Command(cosign, "generate-key-pair")
	gen.Dir = otherKeys
	gen.Env = append(os.Environ(), "COSIGN_PASSWORD=x")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	other, err := attest.LoadSigner(filepath.Join(otherKeys, "cosign.key"), []byte("x"))
	if err != nil {
		t.Fatalf("our reader of cosign's key file: %v", err)
	}
	forged := attest.Verdict{Verdict: attest.VerdictPassed, Summary: "forged", GatedAt: time.Now().UTC(), Findings: nil}
	forged.Image.Reference, forged.Image.Digest, forged.Image.ID = ref, digest, digest
	forged.Policy.Digest, forged.Policy.Source, forged.Policy.Mode, forged.Policy.Block = attest.PolicyDigest(policy.Defaults()), "defaults", "block", "HIGH"
	forged.Tool.Name = "docker-secscan"
	body, _ := json.Marshal(forged)
	st, err := attest.NewStatement(repo, digest, attest.PredicateVerdict, body)
	if err != nil {
		t.Fatal(err)
	}
	stb, _ := json.Marshal(st)
	d, _ := name.NewDigest(repo+"@"+digest, name.Insecure)
	if _, err := attest.Attach(d, [][]byte{stb}, other, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := docker(t, nil, "secscan", "verify", "--key", pub, ref); r.code != 1 || !strings.Contains(r.stderr, "by none of the given keys") {
		t.Fatalf("verify --key after a forged verdict must exit 1: %s", r)
	}
}

// On the containerd store a multi-platform push gets records on the index and on each
// platform manifest; verify of the index checks them all. One platform is vulnerable:
// in warn mode it is pushed, and verify exits 2.
func testAttachToEveryPlatformOfAnIndex(t *testing.T) {
	needTestdata(t)
	needBuildKitStore(t)
	cache := caseDB(t, "nested-oci-index")
	repo := env.Registry + "/e2e/multi-attest"
	ref := repo + ":1"
	if r := docker(t, nil, "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", ref, twoPlatformContext(t)); r.code != 0 {
		t.Fatalf("two-platform build: %s", r)
	}
	r := docker(t, nil, "secscan", "push", "--no-progress", "--skip-db-update", "--cache-dir", cache, "--mode", "warn", "--attach", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)
	if r.code != 0 {
		t.Fatalf("push --mode warn --attach: %s", r)
	}
	r = docker(t, nil, "secscan", "verify", "-f", "json", ref)
	var rep struct {
		Outcome string `json:"outcome"`
		Checks  []struct {
			Platform string `json:"platform"`
			Outcome  string `json:"outcome"`
			Record   *struct {
				Image struct {
					Platform string `json:"platform"`
				} `json:"image"`
				Counts struct{ Total int } `json:"counts"`
			} `json:"record"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 2 || rep.Outcome != "blocked" {
		t.Fatalf("verify of the index: %v %s", err, r)
	}
	var plats []string
	for _, c := range rep.Checks {
		if c.Record == nil {
			t.Fatalf("no record for %q: %s", c.Platform, r.stdout)
		}
		plats = append(plats, c.Platform+"="+c.Record.Image.Platform)
	}
	if strings.Join(sorted(plats), ",") != "=,linux/amd64=linux/amd64,linux/arm64=linux/arm64" {
		t.Fatalf("records checked: %v", plats)
	}
	// Each platform's record counts its own findings: arm64 has the three vulnerable
	// packages more than amd64.
	counts := map[string]int{}
	for _, c := range rep.Checks {
		counts[c.Platform] = c.Record.Counts.Total
	}
	if counts["linux/arm64"] < counts["linux/amd64"]+3 || counts[""] != counts["linux/arm64"]+counts["linux/amd64"] {
		t.Errorf("findings per record: %v", counts)
	}
	// One platform's manifest pushed alone (the clean one) passes.
	r = docker(t, nil, "secscan", "push", "--no-progress", "--skip-db-update", "--cache-dir", cache, "--platform", "linux/amd64", "--attach", "-o", filepath.Join(t.TempDir(), "r.txt"), ref)
	if r.code != 0 {
		t.Fatalf("push --platform linux/amd64 --attach: %s", r)
	}
	if r = docker(t, nil, "secscan", "verify", ref); r.code != 0 {
		t.Fatalf("verify of the amd64 manifest: %s", r)
	}
}

// An image gated against an old DB that knew none of its advisories (a case DB with no
// Alpine 3.9 data; the policy lets an unchecked OS warn) passes; verify --rescan scans
// the attached SBOM with today's DB (the fixtures, with alpine-39's CRITICAL
// advisories) and exits 2, without pulling the image.
func testVerifyRescansTheAttachedSBOMWithTodaysDB(t *testing.T) {
	needTestdata(t)
	oldDB := caseDB(t, "nested-oci-index")
	dir := t.TempDir()
	pol := filepath.Join(dir, ".secscan.yaml")
	os.WriteFile(pol, []byte("version: 1\ngate:\n  on-unsupported-os: warn\n"), 0o644)
	ref := env.Registry + "/e2e/rescan:1"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	r := docker(t, nil, "secscan", "push", "--no-progress", "--skip-db-update", "--cache-dir", oldDB, "--policy", pol, "--attach", "-o", filepath.Join(dir, "r.txt"), ref)
	if r.code != 0 {
		t.Fatalf("push against a DB without Alpine 3.9 data (on-unsupported-os: warn): %s", r)
	}
	if r = docker(t, nil, "secscan", "verify", ref); r.code != 0 {
		t.Fatalf("verify of the recorded verdict: %s", r)
	}
	// Today's DB: the fixtures (the shared cache holds them once any test scanned).
	mustDocker(t, "secscan", "db", "update", "--no-progress", "--cache-dir", cacheDir, "--db-repository", dbRepo)
	r = docker(t, nil, "secscan", "verify", "--rescan", "--policy", pol, "--skip-db-update", "--cache-dir", cacheDir, ref)
	if r.code != 2 || !strings.Contains(r.stdout, "attached SBOM with today's DB") || !strings.Contains(r.stdout, "today's DB (updated") {
		t.Fatalf("verify --rescan must find alpine-39's advisories in the attached SBOM: %s", r)
	}
	// The scan looked at packages: the same SBOM against the old DB passes.
	r = docker(t, nil, "secscan", "verify", "--rescan", "--policy", pol, "--skip-db-update", "--cache-dir", oldDB, ref)
	if r.code != 0 {
		t.Fatalf("verify --rescan against the DB the gate used: %s", r)
	}
}

// --baseline auto against a tag pushed with --attach compares with the findings its
// record holds (the gate's, at that push), without reading or scanning the image; the
// changes are those a scan of it gives.
func testBaselineAutoTakesTheAttachedRecord(t *testing.T) {
	needTestdata(t)
	_, b, c := baselineImages(t)
	deployed := env.Registry + "/e2e/baseline-rec:deployed"
	mustDocker(t, "tag", b, deployed)
	if r := secscan(t, "push", "--mode", "warn", "--attach", "-o", filepath.Join(t.TempDir(), "r.txt"), deployed); r.code != 0 {
		t.Fatalf("push --attach of the deployed image: %s", r)
	}
	mustDocker(t, "tag", c, deployed)
	out := filepath.Join(t.TempDir(), "r.json")
	r := secscan(t, "push", "--new-only", "--baseline", "auto", "-f", "secscan-json", "-o", out, deployed)
	if r.code != 2 {
		t.Fatalf("c against the deployed b's record: lodash is new and blocks: %s", r)
	}
	rep := readBaselineReport(t, out)
	sameList(t, "c against b's attached record", rep.changes(), []string{"CIS-DI-0001  unchanged warning", "CIS-DI-0006  unchanged warning", "CVE-2019-10744 lodash new blocking", "CVE-2019-14697 musl-dbg unchanged in-baseline"})
	if bl := rep.Verdict.Baseline; bl == nil || !strings.Contains(bl.Source, "its record attached at the push") {
		t.Fatalf("the baseline must be the attached record: %+v", rep.Verdict.Baseline)
	}
}

// An imported DB with the same update time as the cached one but other content (a DB
// built elsewhere) is the one the next scan uses: the scans cached with the previous
// DB are dropped by the import (the scan cache is keyed by the DB's update time).
func testImportedDBWithTheSameTimeIsUsed(t *testing.T) {
	needTestdata(t)
	updated := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	all, _ := filepath.Glob(filepath.Join(testdata, "trivy-db-fixtures", "*.yaml"))
	var noAlpine []string
	for _, f := range all {
		if filepath.Base(f) != "alpine.yaml" {
			noAlpine = append(noAlpine, f)
		}
	}
	build := func(fixtures []string) string {
		dir := filepath.Join(t.TempDir(), "db")
		if err := testenv.BuildDB(dir, fixtures, updated, updated.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cache := t.TempDir()
	ref := env.Registry + "/e2e/import-same-time:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	scan := func(db string) result {
		if r := docker(t, nil, "secscan", "db", "import", "--cache-dir", cache, db); r.code != 0 {
			t.Fatalf("db import: %s", r)
		}
		return docker(t, nil, "secscan", "scan", "--cache-dir", cache, "--skip-db-update", "--no-progress", "-f", "secscan-json", "-o", filepath.Join(t.TempDir(), "r.json"), "--exit-code", ref)
	}
	if r := scan(build(all)); r.code != 2 {
		t.Fatalf("alpine-39 with the whole fixture DB must block: %s", r)
	}
	if r := scan(build(noAlpine)); r.code == 2 && strings.Contains(r.stderr, "from the cache") {
		t.Fatalf("a DB without Alpine data, imported with the same update time, was not used (the cached scan was): %s", r)
	}
}

// A typo in $SECSCAN_ENGINE_IDLE warns and runs one-shot: it does not stop commands
// (trial finding: db status, fleet and CI scans all exited 1); the flag is still an error.
func testBadEngineIdleEnvWarns(t *testing.T) {
	needTestdata(t)
	r := docker(t, []string{"SECSCAN_ENGINE_IDLE=10min"}, "secscan", "scan", "--cache-dir", cacheDir, "--db-repository", dbRepo, "--no-progress", "-o", filepath.Join(t.TempDir(), "r.txt"), env.Registry+"/e2e/attest:clean")
	if r.code == 1 || !strings.Contains(r.stderr, `WARNING: $SECSCAN_ENGINE_IDLE "10min" is not an idle time`) {
		t.Fatalf("scan with a bad $SECSCAN_ENGINE_IDLE: %s", r)
	}
	r = docker(t, nil, "secscan", "scan", "--engine-idle", "garbage", env.Registry+"/e2e/attest:clean")
	if r.code != 1 || strings.Count(r.stderr, "garbage") != 1 {
		t.Fatalf("--engine-idle garbage: want exit 1 naming it once: %s", r)
	}
}
