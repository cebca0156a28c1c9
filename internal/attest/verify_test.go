package attest

import (
	"crypto"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

func TestTargets(t *testing.T) {
	amd := report.Platform{Platform: "linux/amd64", Manifest: "sha256:a"}
	arm := report.Platform{Platform: "linux/arm64", Manifest: "sha256:b"}
	for _, tc := range []struct {
		name      string
		pushed    string
		platforms []report.Platform
		want      []Target
	}{
		{"classic store", "sha256:m", []report.Platform{{Platform: "linux/amd64"}}, []Target{{Digest: "sha256:m"}}},
		{"one manifest", "sha256:a", []report.Platform{amd}, []Target{{Digest: "sha256:a"}}},
		{"index", "sha256:i", []report.Platform{amd, arm}, []Target{{Digest: "sha256:i"}, {Digest: "sha256:a", Platform: "linux/amd64"}, {Digest: "sha256:b", Platform: "linux/arm64"}}},
		{"one platform of an index", "sha256:b", []report.Platform{amd, arm}, []Target{{Digest: "sha256:b", Platform: "linux/arm64"}}},
	} {
		got := Targets(tc.pushed, tc.platforms)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %+v", tc.name, got)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			}
		}
	}
}

var critical = report.Finding{Kind: report.KindVulnerability, VulnerabilityID: "CVE-2019-14697", PkgName: "musl", InstalledVersion: "1.1.20-r4",
	FixedVersion: "1.1.20-r5", Severity: report.SeverityCritical, Target: "app (alpine 3.9.4)", Class: "os-pkgs", Type: "alpine"}

// gateAndAttach records a gate on the image at d and attaches it (signed when signer
// is not nil), as a push does.
func gateAndAttach(t *testing.T, d name.Digest, pol policy.Policy, signer *Signer, findings ...report.Finding) {
	t.Helper()
	g := Gate{Repository: d.Context().Name(), Reference: d.Context().Name() + ":1", Scan: scanWith(findings...), Verdict: pol.Evaluate(scanWith(findings...), time.Now()), Policy: pol,
		CI: ci.Context{Provider: "GitHub Actions", RunURL: "https://github.com/o/r/actions/runs/7"}, Version: "v9", Now: time.Now()}
	render := func(format, platform string) ([]byte, error) { return []byte(`{"format":"` + format + `"}`), nil }
	sts, err := Statements(g, Target{Digest: d.DigestStr()}, render)
	if err != nil || len(sts) != 3 {
		t.Fatalf("Statements: %d, %v", len(sts), err)
	}
	if _, err := Attach(d, sts, signer, g.Now); err != nil {
		t.Fatal(err)
	}
}

func TestCheckDigest(t *testing.T) {
	now := time.Now()
	warnMode := policy.Defaults()
	warnMode.Mode = policy.ModeWarn
	strict := policy.Defaults()
	strict.Block = report.SeverityLow
	strict.Source = "strict.yaml"
	low := critical
	low.VulnerabilityID, low.Severity = "CVE-2000-1", report.SeverityLow

	t.Run("passed, then blocked under today's policy", func(t *testing.T) {
		d := pushRandom(t, false)
		gateAndAttach(t, d, policy.Defaults(), nil, low)
		c, err := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now})
		if err != nil || c.Outcome != OutcomePassed || c.Verdict == nil || c.Verdict.CI.RunURL == "" {
			t.Fatalf("%+v %v", c, err)
		}
		if !strings.Contains(c.Describe(), "PASSED") || !strings.Contains(c.Describe(), "https://github.com/o/r/actions/runs/7") {
			t.Fatalf("describe: %s", c.Describe())
		}
		c, _ = CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now, Policy: &strict})
		if c.Outcome != OutcomeBlocked || c.Rejudged != VerdictBlocked || !strings.Contains(c.Reason, "strict.yaml") {
			t.Fatalf("strict: %+v", c)
		}
		// Too old.
		c, _ = CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now.Add(48 * time.Hour), MaxAge: 24 * time.Hour})
		if c.Outcome != OutcomeInvalid || !strings.Contains(c.Reason, "max-age") {
			t.Fatalf("max-age: %+v", c)
		}
	})
	t.Run("warn mode", func(t *testing.T) {
		d := pushRandom(t, false)
		gateAndAttach(t, d, warnMode, nil, critical)
		c, _ := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now})
		if c.Outcome != OutcomeBlocked || c.Verdict.Verdict != VerdictWarnMode {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("no record", func(t *testing.T) {
		d := pushRandom(t, false)
		c, err := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now})
		if err != nil || c.Outcome != OutcomeInvalid || Worst([]Check{c}) != OutcomeInvalid {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("signed, then a changed verdict re-pushed", func(t *testing.T) {
		d := pushRandom(t, false)
		priv, pub := cosignKey(t, "pw")
		signer, _ := LoadSigner(priv, []byte("pw"))
		key, _ := LoadPublicKey(pub)
		gateAndAttach(t, d, policy.Defaults(), signer, low)
		c, _ := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now, Keys: []crypto.PublicKey{key}})
		if c.Outcome != OutcomePassed || !c.Verified {
			t.Fatalf("signed: %+v", c)
		}
		// Someone signs another verdict with another key: the digest no longer verifies.
		otherPriv, _ := cosignKey(t, "x")
		other, _ := LoadSigner(otherPriv, []byte("x"))
		gateAndAttach(t, d, warnMode, other, critical)
		c, _ = CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now, Keys: []crypto.PublicKey{key}})
		if c.Outcome != OutcomeInvalid || !strings.Contains(c.Reason, "by none of the given keys") {
			t.Fatalf("tampered: %+v", c)
		}
		// Unsigned records are ignored with a key.
		d2 := pushRandom(t, false)
		gateAndAttach(t, d2, policy.Defaults(), nil, low)
		c, _ = CheckDigest(d2.Context(), Target{Digest: d2.DigestStr()}, CheckOptions{Now: now, Keys: []crypto.PublicKey{key}})
		if c.Outcome != OutcomeInvalid || !strings.Contains(c.Reason, "signed with the given key") {
			t.Fatalf("unsigned with key: %+v", c)
		}
	})
}

func TestStatementsAreAboutTheTarget(t *testing.T) {
	d := "sha256:" + strings.Repeat("c", 64)
	g := Gate{Repository: "r/app", Reference: "r/app:1", Scan: scanWith(critical), Policy: policy.Defaults(), Now: time.Now()}
	var asked []string
	sts, err := Statements(g, Target{Digest: d, Platform: "linux/arm64"}, func(format, platform string) ([]byte, error) {
		asked = append(asked, format+"@"+platform)
		return []byte(`{}`), nil
	})
	if err != nil || strings.Join(asked, ",") != "cosign-vuln@linux/arm64,cyclonedx@linux/arm64" {
		t.Fatalf("%v %v", asked, err)
	}
	var types []string
	for _, b := range sts {
		st, err := ParseStatement(b)
		if err != nil || !st.About(d) || st.Subject[0].Name != "r/app" {
			t.Fatalf("%s %v", b, err)
		}
		types = append(types, ShortType(st.PredicateType))
	}
	if strings.Join(types, ",") != "vuln,cyclonedx,verdict" {
		t.Fatal(types)
	}
	var v Verdict
	st, _ := ParseStatement(sts[2])
	json.Unmarshal(st.Predicate, &v)
	if v.Image.Platform != "linux/arm64" || v.Image.Digest != d {
		t.Fatalf("%+v", v.Image)
	}
}

func TestSubjectsOfAnIndex(t *testing.T) {
	d := pushRandom(t, false)
	amd, _ := random.Image(32, 1)
	arm, _ := random.Image(32, 1)
	att, _ := random.Image(32, 1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
	)
	tag := d.Context().Tag("multi")
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	got, _, err := Subjects(tag)
	if err != nil || len(got) != 3 || got[1].Platform != "linux/amd64" || got[2].Platform != "linux/arm64/v8" {
		t.Fatalf("%+v %v", got, err)
	}
	h, _ := idx.Digest()
	if got[0].Digest != h.String() || got[0].Platform != "" {
		t.Fatalf("%+v", got[0])
	}
}

// verdictStatement is a valid verdict record about d, gated at `at` with verdict name.
func verdictStatement(t *testing.T, d name.Digest, at time.Time, verdict string, mutate func(*Verdict)) []byte {
	t.Helper()
	pol := policy.Defaults()
	s := scanWith()
	v := NewVerdict(VerdictInput{Scan: s, Verdict: pol.Evaluate(s, at), Policy: pol, Reference: d.Context().Name() + ":1", Digest: d.DigestStr(), Now: at})
	v.Verdict = verdict
	if mutate != nil {
		mutate(&v)
	}
	body, _ := json.Marshal(v)
	return statement(t, d, PredicateVerdict, string(body))
}

func TestCheckDigestPicksTheNewestSignedRecord(t *testing.T) {
	now := time.Now().UTC()
	d := pushRandom(t, false)
	// The newer record (by its signed gatedAt) says warn mode; the older passes. Their
	// unsigned "created" annotations say the opposite: they must not decide.
	if _, err := Attach(d, [][]byte{verdictStatement(t, d, now.Add(-2*time.Hour), VerdictPassed, nil)}, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(d, [][]byte{verdictStatement(t, d, now.Add(-time.Hour), VerdictWarnMode, nil)}, nil, now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, err := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now})
	if err != nil || c.Outcome != OutcomeBlocked || c.Verdict.Verdict != VerdictWarnMode {
		t.Fatalf("newest by gatedAt: %+v %v", c, err)
	}
	// A record dated in the future, or whose counts contradict its verdict, is not used.
	if _, err := Attach(d, [][]byte{
		verdictStatement(t, d, now.Add(24*time.Hour), VerdictPassed, nil),
		verdictStatement(t, d, now.Add(-time.Minute), VerdictPassed, func(v *Verdict) { v.Counts.Blocking, v.Counts.Total = 3, 3 }),
	}, nil, now); err != nil {
		t.Fatal(err)
	}
	c, _ = CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now})
	if c.Verdict == nil || c.Verdict.Verdict != VerdictWarnMode || len(c.Notes) != 2 || !strings.Contains(strings.Join(c.Notes, "|"), "in the future") || !strings.Contains(strings.Join(c.Notes, "|"), "counts 3 blocking") {
		t.Fatalf("future and inconsistent records: %+v", c)
	}
}

func TestCheckDigestKeyRotationAndOtherRepository(t *testing.T) {
	now := time.Now().UTC()
	d := pushRandom(t, false)
	oldPriv, oldPub := cosignKey(t, "a")
	newPriv, newPub := cosignKey(t, "b")
	oldSigner, _ := LoadSigner(oldPriv, []byte("a"))
	newSigner, _ := LoadSigner(newPriv, []byte("b"))
	oldKey, _ := LoadPublicKey(oldPub)
	newKey, _ := LoadPublicKey(newPub)
	Attach(d, [][]byte{verdictStatement(t, d, now.Add(-time.Hour), VerdictPassed, nil)}, oldSigner, now)
	Attach(d, [][]byte{verdictStatement(t, d, now.Add(-time.Minute), VerdictPassed, nil)}, newSigner, now)
	// Both keys given (a rotation): both records verify, the newest is used.
	c, _ := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now, Keys: []crypto.PublicKey{oldKey, newKey}})
	if c.Outcome != OutcomePassed || !c.Verified {
		t.Fatalf("rotation: %+v", c)
	}
	// The new key only: the old record is signed by another key, which fails closed.
	c, _ = CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: now, Keys: []crypto.PublicKey{newKey}})
	if c.Outcome != OutcomeInvalid {
		t.Fatalf("one key: %+v", c)
	}
	// A record made for another repository of the same registry says so.
	other := d.Context().Registry.Repo("team", "copy").Digest(d.DigestStr())
	st := verdictStatement(t, d, now, VerdictPassed, nil) // subject: team/app
	img, _ := remote.Image(d)
	remote.Write(other, img)
	Attach(other, [][]byte{st}, nil, now)
	c, _ = CheckDigest(other.Context(), Target{Digest: other.DigestStr()}, CheckOptions{Now: now})
	if c.Outcome != OutcomePassed || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "made for "+d.Context().Name()) {
		t.Fatalf("other repository: %+v", c)
	}
}

// Two pushes of the same digest within one second: the later record wins.
func TestCheckDigestTellsRecordsOfTheSameSecondApart(t *testing.T) {
	d := pushRandom(t, false)
	first := time.Date(2026, 11, 30, 9, 36, 5, 100_000_000, time.UTC)
	second := first.Add(300 * time.Millisecond)
	if _, err := Attach(d, [][]byte{verdictStatement(t, d, first, VerdictWarnMode, nil)}, nil, first); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(d, [][]byte{verdictStatement(t, d, second, VerdictPassed, nil)}, nil, second); err != nil {
		t.Fatal(err)
	}
	c, err := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, CheckOptions{Now: second.Add(time.Minute)})
	if err != nil || c.Outcome != OutcomePassed {
		t.Fatalf("the later record of the same second: %+v %v", c, err)
	}
}

// verify --rescan: an SBOM that gives no packages, where the gate found some, is not a
// clean rescan (nothing read is not nothing found); with packages, today's findings
// are judged.
func TestRescanFailsClosedOnAnEmptySBOM(t *testing.T) {
	now := time.Now()
	d := pushRandom(t, false)
	pol := policy.Defaults()
	s := scanWith()
	s.Image.Platforms = []report.Platform{{Platform: "linux/amd64", Packages: 14}}
	g := Gate{Repository: d.Context().Name(), Reference: d.Context().Name() + ":1", Scan: s, Verdict: pol.Evaluate(scanWith(), now), Policy: pol, Now: now}
	sts, err := Statements(g, Target{Digest: d.DigestStr()}, func(string, string) ([]byte, error) { return []byte(`{"bomFormat":"CycloneDX"}`), nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(d, sts, nil, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		packages int
		findings []report.Finding
		want     string
	}{
		{0, nil, OutcomeInvalid},
		{14, nil, OutcomePassed},
		{14, []report.Finding{critical}, OutcomeBlocked},
	} {
		opts := CheckOptions{Now: now, Policy: &pol, Rescan: func([]byte, string) (report.Scan, error) {
			return report.Scan{Packages: tc.packages, Findings: tc.findings}, nil
		}}
		c, err := CheckDigest(d.Context(), Target{Digest: d.DigestStr()}, opts)
		if err != nil || c.Outcome != tc.want {
			t.Errorf("%d packages, %d findings: %s (%s), want %s: %v", tc.packages, len(tc.findings), c.Outcome, c.Reason, tc.want, err)
		}
	}
}
