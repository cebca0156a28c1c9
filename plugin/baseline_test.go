package plugin

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// baselineOutcome is wordingOutcome compared with a baseline that had CVE-2019-1547 in
// libssl1.1 (at another version), the root-user check and CVE-2018-0001 in zlib: 2 new
// (musl's CVE, blocking; the excepted CVE-2019-1549), 2 unchanged, 1 fixed.
func baselineOutcome(newOnly bool) *scanOutcome {
	out := wordingOutcome()
	base := baseline.Baseline{Source: "base.json (secscan-json)", Findings: []report.Finding{
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-1547", PkgName: "libssl1.1", InstalledVersion: "1.1.1a-r0", Severity: report.SeverityMedium},
		{Kind: report.KindBestPractice, VulnerabilityID: "DS002", Aliases: []string{"AVD-DS-0002"}, Severity: report.SeverityHigh},
		{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2018-0001", PkgName: "zlib", InstalledVersion: "1.2.11-r1", Severity: report.SeverityHigh, Title: "zlib: old bug"},
	}}
	cmp := baseline.Compare(out.result.Scan.Findings, base)
	out.policy.NewOnly = newOnly
	out.verdict = out.policy.EvaluateAgainst(out.result.Scan, time.Now(), &cmp)
	return out
}

func TestBaselineTableAndMarkdown(t *testing.T) {
	out := baselineOutcome(false)
	var tb bytes.Buffer
	if err := writeGateTable(&tb, out, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(tb.String(), "\n")
	if lines[0] != "2 new, 2 unchanged, 1 fixed against the baseline base.json (secscan-json)" {
		t.Fatalf("the table does not lead with the counts:\n%s", tb.String())
	}
	var rows []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 3 && (f[0] == "new" || f[0] == "unchanged" || f[0] == "fixed" || f[0] == "CHANGE") {
			rows = append(rows, f[0]+" "+f[1]+" "+f[3])
		}
	}
	want := []string{"CHANGE DISPOSITION ID", "new blocking CVE-2019-14697", "new excepted CVE-2019-1549", "unchanged warning CIS-DI-0001",
		"unchanged below-threshold CVE-2019-1547", "fixed fixed CVE-2018-0001"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("table rows (new first, fixed last):\n%s\nwant\n%s\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"), tb.String())
	}
	if !strings.Contains(tb.String(), "Total: 4, 1 excepted") {
		t.Errorf("fixed findings must not count in the totals:\n%s", tb.String())
	}

	var md bytes.Buffer
	if err := writeMarkdown(&md, out, nil); err != nil {
		t.Fatal(err)
	}
	s := md.String()
	counts := strings.Index(s, "**2 new, 2 unchanged, 1 fixed** against the baseline `base.json (secscan-json)`")
	summary := strings.Index(s, "**blocked: 1 blocking finding")
	if counts < 0 || summary < 0 || counts > summary {
		t.Fatalf("the summary does not lead with the counts:\n%s", s)
	}
	for _, w := range []string{"| change | disposition |", "| new | blocking | HIGH | [CVE-2019-14697]", "| fixed | fixed | HIGH | CVE-2018-0001 | zlib |"} {
		if !strings.Contains(s, w) {
			t.Errorf("markdown lacks %q:\n%s", w, s)
		}
	}
	if strings.Index(s, "CVE-2019-14697") > strings.Index(s, "CIS-DI-0001") || strings.Index(s, "CIS-DI-0001") > strings.Index(s, "CVE-2018-0001") {
		t.Errorf("markdown rows not new, unchanged, fixed:\n%s", s)
	}

	// Without a baseline: no change column, no counts line.
	plain := wordingOutcome()
	tb.Reset()
	md.Reset()
	_ = writeGateTable(&tb, plain, false)
	_ = writeMarkdown(&md, plain, nil)
	if strings.Contains(tb.String(), "CHANGE") || strings.Contains(md.String(), "| change") || strings.Contains(tb.String(), "unchanged") {
		t.Errorf("a report without baseline shows changes:\n%s\n%s", tb.String(), md.String())
	}
}

func TestBaselineSecscanJSON(t *testing.T) {
	out := baselineOutcome(true)
	var b bytes.Buffer
	if err := writeSecscanJSON(&b, out); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Verdict struct {
			Baseline policy.BaselineResult `json:"baseline"`
		} `json:"verdict"`
		Findings []struct {
			Finding struct {
				VulnerabilityID string `json:"vulnerabilityID"`
			} `json:"finding"`
			Change string `json:"change"`
		} `json:"findings"`
		Fixed []struct {
			Finding     struct{ VulnerabilityID string } `json:"finding"`
			Disposition string                           `json:"disposition"`
			Change      string                           `json:"change"`
		} `json:"fixed"`
	}
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if r := rep.Verdict.Baseline; r.Source != "base.json (secscan-json)" || r.New != 2 || r.Unchanged != 2 || r.Fixed != 1 || !r.NewOnly {
		t.Fatalf("verdict.baseline %+v", r)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Finding.VulnerabilityID+"="+f.Change)
	}
	if strings.Join(got, " ") != "CVE-2019-14697=new CVE-2019-1549=new CVE-2019-1547=unchanged CIS-DI-0001=unchanged" {
		t.Fatalf("findings' changes: %v", got)
	}
	if len(rep.Fixed) != 1 || rep.Fixed[0].Finding.VulnerabilityID != "CVE-2018-0001" || rep.Fixed[0].Change != "fixed" || rep.Fixed[0].Disposition != "fixed" {
		t.Fatalf("fixed: %+v", rep.Fixed)
	}
	// The report is itself a baseline: the image's four findings, not the fixed one.
	fs, format, err := baseline.Parse(b.Bytes())
	if err != nil || format != baseline.FormatSecscanJSON || len(fs) != 4 {
		t.Fatalf("read back as a baseline: %d findings, %q, %v", len(fs), format, err)
	}
}

func TestBaselineSARIF(t *testing.T) {
	out := baselineOutcome(false)
	b, err := sarifDispositions([]byte(trivySARIF), out.verdict)
	if err == nil {
		b, err = sarifBaseline(b, out.verdict, out.result.Image.Reference)
	}
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string }
				}
			}
			Results []struct {
				RuleID        string
				RuleIndex     int
				Level         string
				Kind          string
				BaselineState string
				Locations     []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
					}
				}
			}
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	var got []string
	for _, r := range run.Results {
		got = append(got, r.RuleID+"="+r.BaselineState)
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %s", r.RuleID, run.Tool.Driver.Rules[r.RuleIndex].ID)
		}
	}
	if strings.Join(got, " ") != "CVE-2019-14697=new CVE-2019-1547=unchanged CIS-DI-0001=unchanged CVE-2018-0001=absent" {
		t.Fatalf("baselineState: %v", got)
	}
	fixed := run.Results[3]
	if fixed.Kind != "pass" || fixed.Level != "none" || len(fixed.Locations) != 1 || fixed.Locations[0].PhysicalLocation.ArtifactLocation.URI != "team/app" {
		t.Fatalf("absent result %+v", fixed)
	}
	if bl, _ := run.Properties["baseline"].(map[string]any); bl["fixed"] != 1.0 || bl["new"] != 2.0 {
		t.Fatalf("run properties %v", run.Properties)
	}
	// Without a baseline the report is left as it was.
	plain := wordingOutcome()
	b1, _ := sarifDispositions([]byte(trivySARIF), plain.verdict)
	b2, err := sarifBaseline(b1, plain.verdict, "x")
	if err != nil || !bytes.Equal(b1, b2) || bytes.Contains(b2, []byte("baselineState")) {
		t.Fatalf("SARIF without a baseline changed: %v", err)
	}
}

// A baseline file that is missing or corrupt: one line naming it, unless the policy
// says gate.baseline-missing: ignore (a note; the gate as without a baseline).
func TestBaselineMissingFile(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	_ = os.WriteFile(corrupt, []byte(`{"schemaVersion": 1, "verdict": {}, "findings": [`), 0o644)
	out := wordingOutcome()
	for _, path := range []string{filepath.Join(dir, "missing.json"), corrupt} {
		opts := &gateOptions{baseline: path}
		pol := policy.Defaults()
		cmp, notes, err := compareWithBaseline(context.Background(), nil, out.image, out.result, opts, pol, nil)
		if err == nil || cmp != nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: %v, %v", path, cmp, err)
		}
		pol.BaselineMissing = policy.ActionIgnore
		cmp, notes, err = compareWithBaseline(context.Background(), nil, out.image, out.result, opts, pol, nil)
		if err != nil || cmp != nil || len(notes) != 1 || !strings.Contains(notes[0], "gate.baseline-missing is ignore") || !strings.Contains(notes[0], path) {
			t.Fatalf("%s with ignore: %v, %v, %v", path, cmp, notes, err)
		}
	}
	// No --baseline: nothing to do.
	if cmp, notes, err := compareWithBaseline(context.Background(), nil, out.image, out.result, &gateOptions{}, policy.Defaults(), nil); cmp != nil || notes != nil || err != nil {
		t.Fatalf("no baseline: %v %v %v", cmp, notes, err)
	}
}

// --baseline auto reads the tag scanned or pushed; a build's image, resolved by ID, by
// its first -t tag; an image named by ID or digest has none.
func TestAutoRef(t *testing.T) {
	parse := func(s string) reference.Named { n, _ := reference.ParseNormalizedNamed(s); return n }
	for _, tc := range []struct {
		img  daemon.Image
		want string // "" for an error
	}{
		{daemon.Image{Input: "registry.example.com/team/app:main", Named: parse("registry.example.com/team/app:main")}, "registry.example.com/team/app:main"},
		{daemon.Image{Input: "app", Named: parse("app")}, "docker.io/library/app:latest"},
		{daemon.Image{Input: "registry.example.com/team/app:1", Named: nil}, "registry.example.com/team/app:1"}, // build
		{daemon.Image{Input: "0123456789ab", Named: nil}, ""},                                                   // an ID prefix
		{daemon.Image{Input: "app@sha256:" + strings.Repeat("a", 64), Named: parse("app@sha256:" + strings.Repeat("a", 64))}, ""},
	} {
		got, err := autoRef(tc.img)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: %v, want an error", tc.img.Input, got)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("%s: %v, %v; want %s", tc.img.Input, got, err, tc.want)
		}
	}
}

// A registry baseline: the index's platform asked for is scanned from a stream of the
// registry's blobs (the engine is told the index digest, the platform and its
// manifest), only that platform's findings count; an attached scan record, when the
// hook finds one, is taken instead of a scan; a tag the registry lacks is ErrNotFound.
func TestRegistryBaseline(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := func(arch string) v1.Image {
		i, _ := random.Image(256, 1)
		cf, _ := i.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		i, _ = mutate.ConfigFile(i, cf)
		return i
	}
	amd, arm := img("amd64"), img("arm64")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	tag, _ := name.NewTag(host + "/team/app:main")
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	armDigest, _ := arm.Digest()
	named, _ := reference.ParseNormalizedNamed(host + "/team/app:main")

	var got engine.ScanRequest
	var blobs int
	scans := 0
	scan := func(req engine.ScanRequest, export func(context.Context) (io.ReadCloser, error), label string) (*engine.Result, error) {
		scans++
		got = req
		rc, err := export(context.Background())
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		for blobs = 0; ; blobs++ {
			if _, err := tr.Next(); err != nil {
				break
			}
		}
		return &engine.Result{Scan: report.Scan{Findings: []report.Finding{
			{VulnerabilityID: "CVE-AMD", Platform: "linux/amd64"}, {VulnerabilityID: "CVE-ARM", Platform: "linux/arm64"}}}}, nil
	}
	b, err := registryBaseline(context.Background(), named, baseline.Access{}, []string{"linux/arm64"}, time.Time{}, scan)
	if err != nil {
		t.Fatal(err)
	}
	if got.Image.ID != idxDigest.String() || got.Image.Platform != "linux/arm64" || len(got.Image.Available) != 1 || got.Image.Available[0] != armDigest.String() || !got.Image.DiffIDsComplete {
		t.Fatalf("engine request %+v", got.Image)
	}
	if blobs != 4 { // index, manifest, config, layer
		t.Fatalf("archive of %d blobs, want 4", blobs)
	}
	if len(b.Findings) != 1 || b.Findings[0].VulnerabilityID != "CVE-ARM" || !strings.Contains(b.Source, "team/app:main ("+idxDigest.String()[:19]+", from the registry)") {
		t.Fatalf("baseline %+v", b)
	}

	// The attached-record hook (issue 13) is tried first.
	defer func() { baseline.AttachedRecord = nil }()
	baseline.AttachedRecord = func(_ context.Context, repo name.Repository, digest string, _ baseline.Access) (baseline.Baseline, bool, error) {
		if repo.String() != host+"/team/app" || digest != idxDigest.String() {
			t.Errorf("hook asked for %s@%s", repo, digest)
		}
		return baseline.Baseline{Source: "record", Findings: []report.Finding{{VulnerabilityID: "CVE-REC"}}}, true, nil
	}
	scans = 0
	if b, err = registryBaseline(context.Background(), named, baseline.Access{}, []string{"linux/arm64"}, time.Time{}, scan); err != nil || scans != 0 || b.Source != "record" {
		t.Fatalf("with an attached record: %+v, %v, %d scans", b, err, scans)
	}
	// A record made with another DB than the scan's is not comparable: the image is scanned.
	recordDB := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	baseline.AttachedRecord = func(context.Context, name.Repository, string, baseline.Access) (baseline.Baseline, bool, error) {
		return baseline.Baseline{Source: "record", DB: recordDB, Findings: []report.Finding{{VulnerabilityID: "CVE-REC"}}}, true, nil
	}
	if b, err = registryBaseline(context.Background(), named, baseline.Access{}, []string{"linux/arm64"}, recordDB.Add(24*time.Hour), scan); err != nil || scans != 1 || b.Source == "record" {
		t.Fatalf("a record of another DB: %+v, %v, %d scans", b, err, scans)
	}
	if b, err = registryBaseline(context.Background(), named, baseline.Access{}, []string{"linux/arm64"}, recordDB, scan); err != nil || scans != 1 || b.Source != "record" {
		t.Fatalf("a record of the same DB: %+v, %v, %d scans", b, err, scans)
	}
	scans = 0
	baseline.AttachedRecord = func(context.Context, name.Repository, string, baseline.Access) (baseline.Baseline, bool, error) {
		return baseline.Baseline{}, false, nil
	}
	if b, err = registryBaseline(context.Background(), named, baseline.Access{}, []string{"linux/arm64"}, time.Time{}, scan); err != nil || scans != 1 || b.Findings[0].VulnerabilityID != "CVE-ARM" {
		t.Fatalf("without an attached record: %+v, %v, %d scans", b, err, scans)
	}

	missing, _ := reference.ParseNormalizedNamed(host + "/team/app:nope")
	if _, err := registryBaseline(context.Background(), missing, baseline.Access{}, nil, time.Time{}, scan); !errors.Is(err, baseline.ErrNotFound) {
		t.Fatalf("missing tag: %v", err)
	}
}
