package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/docker-secscan/docker-secscan/internal/attest/verdictschema"
	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// pushRandom serves a registry (with or without the referrers API) and pushes a
// random image to it, returning the image's digest reference.
func pushRandom(t *testing.T, referrersAPI bool) name.Digest {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/team/app")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag := repo.Tag("1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return repo.Digest(h.String())
}

func statement(t *testing.T, d name.Digest, predicateType, predicate string) []byte {
	t.Helper()
	st, err := NewStatement(d.Context().Name(), d.DigestStr(), predicateType, []byte(predicate))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	return b
}

// cosignKey writes an ECDSA P-256 key as `cosign generate-key-pair` does (PKCS #8,
// encrypted with go-securesystemslib, PEM "ENCRYPTED SIGSTORE PRIVATE KEY") and its
// public key, and returns their paths.
func cosignKey(t *testing.T, password string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: pemSigstorePrivate, Bytes: enc}), 0o600)
	pder, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: pder}), 0o644)
	return priv, pub
}

func TestAttachAndFind(t *testing.T) {
	for _, api := range []bool{false, true} {
		t.Run(map[bool]string{false: "referrers-tag", true: "referrers-api"}[api], func(t *testing.T) {
			d := pushRandom(t, api)
			at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
			vuln := statement(t, d, PredicateVuln, `{"scanner":{"uri":"pkg:github/aquasecurity/trivy@v0.74.0"}}`)
			verdict := statement(t, d, PredicateVerdict, `{"verdict":"passed"}`)
			written, err := Attach(d, [][]byte{vuln, verdict}, nil, at)
			if err != nil || len(written) != 2 {
				t.Fatalf("Attach = %v, %v", written, err)
			}
			if !api {
				// Registries without the referrers API: the referrers tag lists them.
				if _, err := remote.Head(d.Context().Tag("sha256-" + strings.TrimPrefix(d.DigestStr(), "sha256:"))); err != nil {
					t.Fatalf("no referrers tag: %v", err)
				}
			}
			recs, err := Find(d, "", nil)
			if err != nil || len(recs) != 2 {
				t.Fatalf("Find = %d records, %v", len(recs), err)
			}
			for _, r := range recs {
				if r.Err != nil || r.Signed || !r.Created.Equal(at) || !r.Statement.About(d.DigestStr()) {
					t.Errorf("record %+v", r)
				}
			}
			only, err := Find(d, PredicateVerdict, nil)
			if err != nil || len(only) != 1 || string(only[0].Statement.Predicate) != `{"verdict":"passed"}` {
				t.Fatalf("Find(verdict) = %+v, %v", only, err)
			}
			// With a key, unsigned records do not count.
			_, pub := cosignKey(t, "pw")
			key, err := LoadPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			recs, _ = Find(d, PredicateVerdict, []crypto.PublicKey{key})
			if len(recs) != 1 || recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "not signed") {
				t.Fatalf("unsigned record with a key: %+v", recs)
			}
		})
	}
}

func TestSignedRecords(t *testing.T) {
	d := pushRandom(t, false)
	priv, pub := cosignKey(t, "s3cret")
	if _, err := LoadSigner(priv, []byte("wrong")); err == nil || strings.Contains(err.Error(), "wrong") && strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("wrong password: %v", err)
	}
	signer, err := LoadSigner(priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := LoadPublicKey(pub)
	if _, err := Attach(d, [][]byte{statement(t, d, PredicateVerdict, `{"verdict":"passed"}`)}, signer, time.Now()); err != nil {
		t.Fatal(err)
	}
	recs, err := Find(d, PredicateVerdict, []crypto.PublicKey{key})
	if err != nil || len(recs) != 1 || recs[0].Err != nil || !recs[0].Signed || !recs[0].Verified {
		t.Fatalf("signed record: %+v, %v", recs, err)
	}
	// Another key does not verify it.
	_, otherPub := cosignKey(t, "x")
	other, _ := LoadPublicKey(otherPub)
	recs, _ = Find(d, PredicateVerdict, []crypto.PublicKey{other})
	if len(recs) != 1 || !errors.Is(recs[0].Err, ErrBadSignature) {
		t.Fatalf("other key: %+v", recs)
	}
}

func TestOpenBundleRejectsTampering(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	s := NewSigner(edKey)
	st := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r","digest":{"sha256":"00"}}],"predicateType":"x","predicate":{"verdict":"warned"}}`)
	b, err := s.Bundle(st)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenBundle(b, s.Public()); err != nil || string(got) != string(st) {
		t.Fatalf("OpenBundle = %s, %v", got, err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["mediaType"] != BundleMediaType || m["verificationMaterial"].(map[string]any)["publicKey"] == nil {
		t.Fatalf("bundle shape: %s", b)
	}
	// The verdict changed in the payload (base64 in the bundle): the signature fails.
	env := m["dsseEnvelope"].(map[string]any)
	tampered := strings.Replace(string(st), "warned", "passed", 1)
	env["payload"] = b64(tampered)
	tb, _ := json.Marshal(m)
	if _, err := OpenBundle(tb, s.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered bundle: %v", err)
	}
	// Without a key the content is readable but unverified.
	if got, err := OpenBundle(tb); err != nil || string(got) != tampered {
		t.Fatalf("OpenBundle(nil) = %s, %v", got, err)
	}
}

func TestLoadSignerErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "k")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	wrongType := filepath.Join(dir, "p")
	os.WriteFile(wrongType, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), 0o600)
	for path, want := range map[string]string{filepath.Join(dir, "missing"): "no such file", notPEM: "not a PEM file", wrongType: "not a Cosign private key"} {
		if _, err := LoadSigner(path, nil); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("LoadSigner(%s) = %v, want %q on one line", path, err, want)
		}
	}
}

func TestNewStatement(t *testing.T) {
	if _, err := NewStatement("r", "sha256:abc", PredicateVuln, []byte(`{}`)); err == nil {
		t.Error("short digest accepted")
	}
	d := "sha256:" + strings.Repeat("ab", 32)
	if _, err := NewStatement("r", d, PredicateVuln, []byte(`[1]`)); err == nil {
		t.Error("non-object predicate accepted")
	}
	st, err := NewStatement("r", d, PredicateVuln, []byte(`{"a":1}`))
	if err != nil || !st.About(d) || st.About("sha256:"+strings.Repeat("cd", 32)) {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := ParseStatement([]byte(`{"_type":"x","predicateType":"p","subject":[{}]}`)); err == nil {
		t.Error("wrong _type accepted")
	}
}

func scanWith(findings ...report.Finding) report.Scan {
	return report.Scan{
		Image:    report.Image{Reference: "r/app:1", ID: "sha256:" + strings.Repeat("1", 64)},
		Findings: findings, Scanner: "trivy v0.74.0",
		DB: report.DB{SchemaVersion: 2, UpdatedAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)},
	}
}

func TestVerdictPredicate(t *testing.T) {
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	high := report.Finding{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-14697", PkgName: "musl", InstalledVersion: "1.1.20-r4", FixedVersion: "1.1.20-r5", Severity: report.SeverityCritical, Target: "t", Class: "os-pkgs", Type: "alpine"}
	low := high
	low.VulnerabilityID, low.Severity = "CVE-2000-1", report.SeverityLow
	medium := high
	medium.VulnerabilityID, medium.Severity = "CVE-2000-2", report.SeverityMedium
	warnMed := report.SeverityMedium

	pol := policy.Defaults()
	warnPol := pol
	warnPol.Mode = policy.ModeWarn
	bandPol := pol
	bandPol.Warn = &warnMed
	excepted := pol
	excepted.Exceptions = []policy.Exception{{ID: "CVE-2019-14697", Reason: "not reachable", Expires: now.Add(48 * time.Hour), Source: "p.yaml:3"}}

	for _, tc := range []struct {
		name    string
		pol     policy.Policy
		scan    report.Scan
		verdict string
		counts  Counts
	}{
		{"passed", pol, scanWith(low), VerdictPassed, Counts{Total: 1, BelowThreshold: 1}},
		{"warned", bandPol, scanWith(medium), VerdictWarned, Counts{Total: 1, Warning: 1}},
		{"warn mode", warnPol, scanWith(high, low), VerdictWarnMode, Counts{Total: 2, Warning: 1, BelowThreshold: 1}},
		{"blocked", pol, scanWith(high), VerdictBlocked, Counts{Total: 1, Blocking: 1}},
		{"excepted", excepted, scanWith(high), VerdictPassed, Counts{Total: 1, Excepted: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerdict(VerdictInput{Scan: tc.scan, Verdict: tc.pol.Evaluate(tc.scan, now), Policy: tc.pol, Reference: "r/app:1", Digest: "sha256:" + strings.Repeat("2", 64),
				CI: ci.Context{Provider: "GitHub Actions", RunURL: "https://github.com/o/r/actions/runs/1"}, Version: "v1", Now: now})
			if v.Verdict != tc.verdict || v.Counts != tc.counts {
				t.Fatalf("verdict %s %+v, want %s %+v", v.Verdict, v.Counts, tc.verdict, tc.counts)
			}
			if tc.name == "excepted" && (len(v.Exceptions) != 1 || v.Exceptions[0].Reason != "not reachable" || !v.Exceptions[0].Expires.Equal(now.Add(48*time.Hour))) {
				t.Fatalf("exceptions %+v", v.Exceptions)
			}
			if !strings.HasPrefix(v.Policy.Digest, "sha256:") || v.Policy.Block != "HIGH" || v.CI.RunURL == "" || !v.DB.UpdatedAt.Equal(tc.scan.DB.UpdatedAt) {
				t.Fatalf("record %+v", v)
			}
			b, _ := json.Marshal(v)
			if err := verdictschema.Validate(b); err != nil {
				t.Fatal(err)
			}
			if _, err := ParseVerdict(b); err != nil {
				t.Fatal(err)
			}
		})
	}
	// ParseVerdict refuses what the schema refuses (the plugin does not link the
	// schema validator): each broken record fails both.
	good := NewVerdict(VerdictInput{Scan: scanWith(), Verdict: pol.Evaluate(scanWith(), now), Policy: pol, Reference: "r/app:1", Digest: "sha256:" + strings.Repeat("2", 64), Version: "v1", Now: now})
	for name, broken := range map[string]func(v *Verdict){
		"verdict":       func(v *Verdict) { v.Verdict = "maybe" },
		"image digest":  func(v *Verdict) { v.Image.Digest = "sha256:abc" },
		"policy digest": func(v *Verdict) { v.Policy.Digest = "" },
		"mode":          func(v *Verdict) { v.Policy.Mode = "lenient" },
		"tool":          func(v *Verdict) { v.Tool.Name = "other" },
		"findings":      func(v *Verdict) { v.Findings = nil },
		"exceptions":    func(v *Verdict) { v.Exceptions = nil },
		"reference":     func(v *Verdict) { v.Image.Reference = "" },
		"image ID":      func(v *Verdict) { v.Image.ID = "" },
		"policy source": func(v *Verdict) { v.Policy.Source = "" },
		"gatedAt":       func(v *Verdict) { v.GatedAt = time.Time{} },
	} {
		v := good
		broken(&v)
		b, _ := json.Marshal(v)
		if verdictschema.Validate(b) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
		if _, err := ParseVerdict(b); err == nil {
			t.Errorf("%s: ParseVerdict accepted it", name)
		}
	}
	// The policy digest follows the policy.
	if PolicyDigest(pol) == PolicyDigest(warnPol) || PolicyDigest(pol) != PolicyDigest(policy.Defaults()) {
		t.Fatal("policy digest")
	}
}

func TestForPlatform(t *testing.T) {
	a := report.Finding{VulnerabilityID: "A", Platform: "linux/amd64"}
	b := report.Finding{VulnerabilityID: "B", Platform: "linux/arm64"}
	s := scanWith(a, b)
	s.Image.Platforms = []report.Platform{{Platform: "linux/amd64", OS: "alpine 3.9.4"}, {Platform: "linux/arm64", OS: "alpine 3.20.3"}}
	got := ForPlatform(s, "linux/arm64")
	if len(got.Findings) != 1 || got.Findings[0].VulnerabilityID != "B" || len(got.Image.Platforms) != 1 || got.Image.OS != "alpine 3.20.3" {
		t.Fatalf("%+v", got)
	}
	if len(s.Findings) != 2 {
		t.Fatal("ForPlatform changed its input")
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
