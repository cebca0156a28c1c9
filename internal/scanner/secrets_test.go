package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	"github.com/aquasecurity/trivy/pkg/fanal/handler"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/fanal/walker"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// fakeAWSKey is a made-up access key ID of the form Trivy's aws-access-key-id rule finds.
const fakeAWSKey = "AKIAQWERTYUIOPASDFGH"

// secretPlan is the plan of a scan with gate.secrets on (config: Trivy's secret-config
// file, "" for the built-in rules), as Scan builds it.
func secretPlan(t *testing.T, config string) *layerPlan {
	t.Helper()
	opt := artifact.Option{DisabledAnalyzers: disabledAnalyzers(false, true), Offline: true, Parallel: 1,
		SecretScannerOption: analyzer.SecretScannerOption{ConfigPath: config}}
	ag, err := analyzer.NewAnalyzerGroup(opt.AnalyzerOptions())
	if err != nil {
		t.Fatal(err)
	}
	hm, err := handler.NewManager(opt)
	if err != nil {
		t.Fatal(err)
	}
	return &layerPlan{analyzer: ag, handlers: hm, walker: walker.NewLayerTar(opt.WalkerOption), opt: opt}
}

func secretLayer(t *testing.T) []byte {
	return layerTar(t, entry{"app/", "dir", ""},
		entry{"app/config.env", "file", "# deploy settings\nREGION=eu-west-1\nAWS_ACCESS_KEY_ID=" + fakeAWSKey + "\n"})
}

func analyseWith(t *testing.T, p *layerPlan, l []byte) ftypes.ArtifactDetail {
	t.Helper()
	b, err := (&Scanner{}).analyseLayer(context.Background(), bytes.NewReader(l), p)
	if err != nil {
		t.Fatal(err)
	}
	b.DiffID = diffID(l)
	return applier.ApplyLayers([]ftypes.BlobInfo{b})
}

func TestSecretsOffDoesNotRunTheSecretAnalyser(t *testing.T) {
	if !slices.Contains(disabledAnalyzers(false, false), analyzer.TypeSecret) {
		t.Fatal("gate.secrets: off must disable Trivy's secret analyser")
	}
	if slices.Contains(disabledAnalyzers(false, true), analyzer.TypeSecret) {
		t.Fatal("gate.secrets on must not disable Trivy's secret analyser")
	}
	if _, ok := testPlan(t).analyzer.AnalyzerVersions().Analyzers[string(analyzer.TypeSecret)]; ok {
		t.Fatal("the secret analyser is in the group with secrets off")
	}
	if d := applied(t, secretLayer(t)); len(d.Secrets) != 0 {
		t.Fatalf("secrets found with the analyser off: %+v", d.Secrets)
	}
}

func TestSecretInALayerIsFoundRedactedWithFileAndLine(t *testing.T) {
	d := analyseWith(t, secretPlan(t, ""), secretLayer(t))
	if len(d.Secrets) != 1 || len(d.Secrets[0].Findings) != 1 {
		t.Fatalf("secrets %+v", d.Secrets)
	}
	s := d.Secrets[0]
	r := types.Result{Target: s.FilePath, Class: types.ClassSecret}
	for _, f := range s.Findings {
		r.Secrets = append(r.Secrets, types.DetectedSecret(f))
	}
	fs := secretFindings(r)
	if !secretFile(r) || len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Kind != report.KindSecret || f.VulnerabilityID != "aws-access-key-id" || f.PkgPath != "/app/config.env" || f.StartLine != 3 || f.Severity != report.SeverityCritical {
		t.Fatalf("finding %+v", f)
	}
	if f.Location() != "/app/config.env:3" || !strings.Contains(f.Match, "AWS_ACCESS_KEY_ID=*") {
		t.Fatalf("location %q, match %q", f.Location(), f.Match)
	}
	// Never the secret itself: not in our finding, not in Trivy's result, not in any of
	// Trivy's reports.
	all, _ := json.Marshal(struct {
		F report.Finding
		R types.Result
	}{f, r})
	if bytes.Contains(all, []byte(fakeAWSKey)) {
		t.Fatalf("the raw secret is in the finding or Trivy's result: %s", all)
	}
	res := &Result{trivy: types.Report{ArtifactName: "app:1", ArtifactType: ftypes.TypeContainerImage, Results: types.Results{r}}}
	for _, format := range []string{"json", "sarif", "cyclonedx"} {
		var buf bytes.Buffer
		if err := res.Write(context.Background(), &buf, format, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(buf.Bytes(), []byte(fakeAWSKey)) {
			t.Fatalf("the raw secret is in Trivy's %s report", format)
		}
		if format != "cyclonedx" && !bytes.Contains(buf.Bytes(), []byte("aws-access-key-id")) {
			t.Fatalf("Trivy's %s report lacks the secret finding:\n%s", format, buf.Bytes())
		}
	}
	// A suppressed secret (.trivyignore) leaves Trivy's results for its modified findings.
	rep := suppress(res.trivy, []engine.Suppression{{Finding: f, Status: "ignored", Source: ".trivyignore:1"}})
	if len(rep.Results[0].Secrets) != 0 || len(rep.Results[0].ModifiedFindings) != 1 {
		t.Fatalf("suppressed secret: %+v", rep.Results[0])
	}
}

func TestSecretConfigDisablesRules(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "trivy-secret.yaml")
	if err := os.WriteFile(cfg, []byte("disable-rules:\n  - aws-access-key-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := analyseWith(t, secretPlan(t, cfg), secretLayer(t)); len(d.Secrets) != 0 {
		t.Fatalf("a rule trivy-secret.yaml disables still reports: %+v", d.Secrets)
	}
	// A custom rule of the config file is used (another file: the analyser is
	// process-wide and reads a config path once).
	cfg = filepath.Join(t.TempDir(), "trivy-secret.yaml")
	if err := os.WriteFile(cfg, []byte("rules:\n  - id: acme-token\n    category: ACME\n    title: ACME token\n    severity: HIGH\n    regex: 'acme_[a-z0-9]{12}'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := layerTar(t, entry{"etc/acme.conf", "file", "token = acme_abcdef123456\n"})
	d := analyseWith(t, secretPlan(t, cfg), l)
	if len(d.Secrets) != 1 || d.Secrets[0].Findings[0].RuleID != "acme-token" || strings.Contains(d.Secrets[0].Findings[0].Match, "acme_abcdef123456") {
		t.Fatalf("custom rule: %+v", d.Secrets)
	}
	analyseWith(t, secretPlan(t, ""), secretLayer(t)) // the analyser is process-wide: back to the built-in rules
}

// The layer cache key changes when the secret analyser runs (and with the content of
// the secret-config file), and Trivy's own image artifact computes the same key as
// layerPlan.blobKey, so it finds the layers the stream analysed with secrets.
func TestSecretLayerCacheKeyIsTrivys(t *testing.T) {
	l := secretLayer(t)
	d := diffID(l)
	plainKey, err := testPlan(t).blobKey(d)
	if err != nil {
		t.Fatal(err)
	}
	p := secretPlan(t, "")
	ours, err := p.blobKey(d)
	if err != nil {
		t.Fatal(err)
	}
	if ours == plainKey {
		t.Fatal("the layer cache key is the same with and without the secret analyser")
	}
	cfgFile := filepath.Join(t.TempDir(), "trivy-secret.yaml")
	_ = os.WriteFile(cfgFile, []byte("disable-rules:\n  - github-pat\n"), 0o600)
	withCfg, err := secretPlan(t, cfgFile).blobKey(d)
	if err != nil {
		t.Fatal(err)
	}
	if withCfg == ours {
		t.Fatal("the layer cache key does not change with the secret-config file")
	}

	p = secretPlan(t, "")
	trivyFindsLayerUnderOurKey(t, p, l, d, ours)
}
