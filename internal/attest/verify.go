package attest

import (
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Outcomes of a check (Check.Outcome), worst last.
const (
	OutcomePassed  = "passed"  // a record says the gate passed (with or without warnings)
	OutcomeBlocked = "blocked" // the record says blocked or warn-mode, or today's policy blocks
	OutcomeInvalid = "invalid" // no usable record: none, too old, bad signature, unreadable
)

// CheckOptions say what a record must satisfy.
type CheckOptions struct {
	// Keys, when set, are the public keys a verdict record must be signed with (one of
	// them: several during a key rotation); unsigned records are then ignored, and a
	// signed record that verifies with none of them fails the check (it was changed
	// after signing, or signed by someone else).
	Keys []crypto.PublicKey
	// MaxAge, when positive, is how old the record may be (from its gatedAt).
	MaxAge time.Duration
	// Policy, when set, judges the recorded findings again (today's policy).
	Policy *policy.Policy
	// Rescan, when set, finds the vulnerabilities of the attached SBOM (CycloneDX) with
	// today's DB (the engine's SBOM scan); Policy then judges them. name is the image
	// reference the record names.
	Rescan func(sbom []byte, name string) (report.Scan, error)
	Now    time.Time
}

// Check is the result of checking the verdict attached to one digest.
type Check struct {
	Digest   string `json:"digest"`
	Platform string `json:"platform,omitempty"` // os/arch of a platform manifest of an index
	// Outcome is OutcomePassed, OutcomeBlocked or OutcomeInvalid, and Reason says why.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	// Verdict is the record used (nil when none could be used).
	Verdict  *Verdict `json:"record,omitempty"`
	Record   string   `json:"recordManifest,omitempty"` // its referrer manifest digest
	Signed   bool     `json:"signed"`
	Verified bool     `json:"verified"` // its signature was checked with the key given
	// Rejudged is the verdict of today's policy on the recorded findings ("" when no
	// policy was given), and Summary that policy's summary.
	Rejudged        string `json:"rejudged,omitempty"`
	RejudgedSummary string `json:"rejudgedSummary,omitempty"`
	// Rescanned is the verdict of today's policy on the attached SBOM's packages
	// scanned with today's DB (RescanDB: that DB's update time); "" when not asked.
	Rescanned     string    `json:"rescanned,omitempty"`
	RescanSummary string    `json:"rescanSummary,omitempty"`
	RescanDB      time.Time `json:"rescanDB,omitzero"`
	// RescanBlocking are the IDs of the findings that block in the rescan (at most 5).
	RescanBlocking []string `json:"rescanBlocking,omitempty"`
	Notes          []string `json:"notes,omitempty"`
}

// Subjects resolves ref (name:tag or name@digest) to the digests whose records a
// verification checks: the manifest itself, or for an index the index and each
// platform manifest it names (attestation manifests, such as BuildKit's provenance,
// are not images and are skipped). Platforms are os/arch[/variant] ("" for the index
// or a lone manifest).
func Subjects(ref name.Reference, ropts ...remote.Option) ([]Target, name.Repository, error) {
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, name.Repository{}, err // go-containerregistry's: registry.Explain words it
	}
	repo := ref.Context()
	out := []Target{{Digest: desc.Digest.String()}}
	if !desc.MediaType.IsIndex() {
		return out, repo, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, repo, fmt.Errorf("read the index %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, repo, fmt.Errorf("read the index %s: %v", ref, err)
	}
	for _, m := range im.Manifests {
		if attestationManifest(m) || !m.MediaType.IsImage() {
			continue
		}
		p := ""
		if m.Platform != nil {
			p = m.Platform.OS + "/" + m.Platform.Architecture
			if m.Platform.Variant != "" {
				p += "/" + m.Platform.Variant
			}
		}
		out = append(out, Target{Digest: m.Digest.String(), Platform: p})
	}
	return out, repo, nil
}

// attestationManifest reports whether an index entry is an attestation manifest
// (BuildKit's annotation, or the unknown/unknown platform it gives them).
func attestationManifest(m v1.Descriptor) bool {
	if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return m.Platform != nil && m.Platform.OS == "unknown" && m.Platform.Architecture == "unknown"
}

// clockSkew is how far in the future a record's gatedAt may be (clocks differ).
const clockSkew = 5 * time.Minute

// CheckDigest finds the newest usable verdict record attached to repo@t.Digest (by its
// gatedAt, which a signature covers, never by an unsigned annotation) and checks it
// against opts. A signed record that verifies with none of opts.Keys makes the check
// invalid even when another record holds (a record was changed or forged); unsigned
// records are ignored when keys are given. A record whose counts contradict its
// verdict, or that is dated in the future, is not used. Errors reading the registry
// are returned; everything about the records is in the Check.
func CheckDigest(repo name.Repository, t Target, opts CheckOptions, ropts ...remote.Option) (Check, error) {
	c := Check{Digest: t.Digest, Platform: t.Platform}
	subject := repo.Digest(t.Digest)
	recs, err := Find(subject, PredicateVerdict, opts.Keys, ropts...)
	if err != nil {
		return c, err
	}
	var use *Record
	var v Verdict
	for i := range recs {
		r := &recs[i]
		if errors.Is(r.Err, ErrBadSignature) {
			c.Outcome, c.Reason, c.Record, c.Signed = OutcomeInvalid, fmt.Sprintf("the verdict record %s is signed, but by none of the given keys, or was changed after signing", r.Manifest), r.Manifest, true
			return c, nil
		}
		if r.Err == nil {
			rv, err := ParseVerdict(r.Statement.Predicate)
			switch {
			case err != nil:
				r.Err = fmt.Errorf("record %s: %v", r.Manifest, err)
			case rv.GatedAt.After(opts.Now.Add(clockSkew)):
				r.Err = fmt.Errorf("record %s is dated in the future (gated %s): the gating runner's clock is wrong", r.Manifest, rv.GatedAt.UTC().Format(time.RFC3339))
			case inconsistent(rv):
				r.Err = fmt.Errorf("record %s says %s, but counts %d blocking findings", r.Manifest, rv.Verdict, rv.Counts.Blocking)
			case use == nil || rv.GatedAt.After(v.GatedAt):
				use, v = r, rv
			}
		}
		if r.Err != nil {
			c.Notes = append(c.Notes, "ignored: "+oneLine(r.Err.Error()))
		}
	}
	if use == nil {
		c.Outcome, c.Reason = OutcomeInvalid, "no verdict record is attached"
		if len(opts.Keys) > 0 && len(c.Notes) > 0 {
			c.Reason = "no verdict record signed with the given key is attached"
		} else if len(c.Notes) > 0 {
			c.Reason = "no usable verdict record is attached"
		}
		return c, nil
	}
	c.Verdict, c.Record, c.Signed, c.Verified = &v, use.Manifest, use.Signed, use.Verified
	if name := use.Statement.Subject[0].Name; !sameRepository(name, repo) {
		c.Notes = append(c.Notes, fmt.Sprintf("the record was made for %s, not %s (same digest): its exceptions were those of that repository", name, repo.Name()))
	}
	if opts.MaxAge > 0 && opts.Now.Sub(v.GatedAt) > opts.MaxAge {
		c.Outcome, c.Reason = OutcomeInvalid, fmt.Sprintf("the record is %s old (gated %s), over --max-age %s", age(opts.Now.Sub(v.GatedAt)), v.GatedAt.UTC().Format(time.RFC3339), opts.MaxAge)
		return c, nil
	}
	switch v.Verdict {
	case VerdictPassed, VerdictWarned:
		c.Outcome, c.Reason = OutcomePassed, "verdict "+v.Verdict
	default:
		c.Outcome, c.Reason = OutcomeBlocked, "verdict "+v.Verdict
	}
	if opts.Policy != nil {
		scan := v.scan()
		now := opts.Now
		pv := opts.Policy.Evaluate(scan, now)
		c.Rejudged, c.RejudgedSummary = VerdictName(pv), pv.Summary
		if c.Rejudged != VerdictPassed && c.Rejudged != VerdictWarned && c.Outcome == OutcomePassed {
			c.Outcome, c.Reason = OutcomeBlocked, "today's policy ("+opts.Policy.Source+") would block it: "+pv.Summary
		}
	}
	if opts.Rescan != nil && opts.Policy != nil && c.Outcome != OutcomeInvalid {
		if err := rescan(&c, subject, v, opts, ropts); err != nil {
			return c, err
		}
	}
	return c, nil
}

// inconsistent reports whether a record's verdict contradicts its counts: a pass in
// block mode with blocking findings (a record edited by hand).
func inconsistent(v Verdict) bool {
	return (v.Verdict == VerdictPassed || v.Verdict == VerdictWarned) && v.Counts.Blocking > 0 && v.Policy.Mode != "warn"
}

// sameRepository reports whether a statement's subject name is repo (registry
// host spellings normalised by go-containerregistry, e.g. docker.io).
func sameRepository(subject string, repo name.Repository) bool {
	r, err := name.NewRepository(subject, name.WeakValidation)
	return err == nil && r.Name() == repo.Name()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// rescan scans the newest usable SBOM record of subject with today's DB and judges
// its findings under opts.Policy; no usable SBOM record makes the check invalid.
func rescan(c *Check, subject name.Digest, v Verdict, opts CheckOptions, ropts []remote.Option) error {
	recs, err := Find(subject, PredicateCycloneDX, opts.Keys, ropts...)
	if err != nil {
		return err
	}
	var sbom []byte
	for _, r := range recs {
		if r.Err == nil {
			sbom = r.Statement.Predicate
			break
		}
	}
	if sbom == nil {
		c.Outcome, c.Reason = OutcomeInvalid, "no usable SBOM record to scan with today's DB"
		return nil
	}
	scan, err := opts.Rescan(sbom, v.Image.Reference)
	if err != nil {
		return fmt.Errorf("scan the attached SBOM of %s with today's DB: %v", subject, err)
	}
	recorded := 0
	for _, p := range v.Image.Platforms {
		recorded += p.Packages
	}
	if scan.Packages == 0 && recorded > 0 {
		// Nothing read is not "nothing found": the gate saw packages, the SBOM gave none.
		c.Outcome, c.Reason = OutcomeInvalid, fmt.Sprintf("the attached SBOM gave no packages to scan, where the gate found %d: today's DB could not be checked", recorded)
		return nil
	}
	pv := opts.Policy.Evaluate(scan, opts.Now)
	c.Rescanned, c.RescanSummary, c.RescanDB = VerdictName(pv), pv.Summary, scan.DB.UpdatedAt
	var ids []string
	for _, d := range pv.Decisions {
		if d.Disposition == policy.Blocking && !slices.Contains(ids, d.Finding.VulnerabilityID) {
			ids = append(ids, d.Finding.VulnerabilityID)
		}
	}
	if len(ids) > 5 {
		ids = append(ids[:5], "...")
	}
	c.RescanBlocking = ids
	if c.Rescanned == VerdictBlocked && c.Outcome == OutcomePassed {
		c.Outcome, c.Reason = OutcomeBlocked, fmt.Sprintf("today's DB (updated %s) finds what %s blocks (%s): %s", scan.DB.UpdatedAt.UTC().Format(time.DateOnly), opts.Policy.Source, strings.Join(ids, ", "), pv.Summary)
	}
	return nil
}

func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

// Worst is the worst outcome of checks (OutcomeInvalid over OutcomeBlocked over
// OutcomePassed); no checks is OutcomeInvalid.
func Worst(checks []Check) string {
	rank := map[string]int{OutcomePassed: 0, OutcomeBlocked: 1, OutcomeInvalid: 2}
	if len(checks) == 0 {
		return OutcomeInvalid
	}
	w := OutcomePassed
	for _, c := range checks {
		if rank[c.Outcome] > rank[w] {
			w = c.Outcome
		}
	}
	return w
}

// Describe says what c found, for people: the digest and the outcome on the first line,
// then (indented) who gated it and when, the CI run, the policy, the DB and the counts.
func (c Check) Describe() string {
	var b strings.Builder
	short := c.Digest
	if len(short) > 19 {
		short = short[:19]
	}
	fmt.Fprintf(&b, "%s", short)
	if c.Platform != "" {
		fmt.Fprintf(&b, " (%s)", c.Platform)
	}
	fmt.Fprintf(&b, ": %s: %s", strings.ToUpper(c.Outcome), c.Reason)
	if v := c.Verdict; v != nil {
		who := v.CI.Provider
		switch who {
		case "", "local":
			who = "a local run (no CI)"
		default:
			if v.CI.Repository != "" {
				who += " in " + v.CI.Repository
			}
		}
		fmt.Fprintf(&b, "\n    gated %s by %s", v.GatedAt.UTC().Format("2006-01-02 15:04 UTC"), who)
		if v.CI.RunURL != "" {
			fmt.Fprintf(&b, " (%s)", v.CI.RunURL)
		}
		if v.CI.CommitSHA != "" {
			fmt.Fprintf(&b, ", commit %s", v.CI.CommitSHA)
		}
		fmt.Fprintf(&b, ", with docker secscan %s and %s", v.Tool.Version, v.Scanner)
		fmt.Fprintf(&b, "\n    policy %s (%s: block %s, mode %s), DB of %s", shortDigest(v.Policy.Digest), v.Policy.Source, v.Policy.Block, v.Policy.Mode, v.DB.UpdatedAt.UTC().Format(time.DateOnly))
		what := "findings"
		if c.Platform != "" || v.Image.Platform != "" {
			what = "findings of this platform"
		}
		fmt.Fprintf(&b, "\n    %d %s: %d blocking, %d warning, %d excepted; the gate said: %s", v.Counts.Total, what, v.Counts.Blocking, v.Counts.Warning, v.Counts.Excepted, v.Summary)
		switch {
		case c.Verified:
			b.WriteString("\n    signature verified with the given key")
		case c.Signed:
			b.WriteString("\n    signed (not checked: give --key)")
		default:
			b.WriteString("\n    not signed: anyone who may push to the repository could have written it (sign with push --sign-key, check with --key)")
		}
	}
	return b.String()
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// Latest is the newest verdict record attached to subject that can be used (it parses
// and follows the schema; signatures are not checked), with ok=false when there is
// none. For a baseline (a comparison, not a decision to trust an image).
func Latest(subject name.Digest, ropts ...remote.Option) (v Verdict, ok bool, err error) {
	recs, err := Find(subject, PredicateVerdict, nil, ropts...)
	if err != nil {
		return v, false, err
	}
	// The newest by gatedAt (signed with the record), not by an annotation.
	found := false
	for _, r := range recs {
		if r.Err != nil {
			continue
		}
		if rv, err := ParseVerdict(r.Statement.Predicate); err == nil && !inconsistent(rv) && (!found || rv.GatedAt.After(v.GatedAt)) {
			v, found = rv, true
		}
	}
	return v, found, nil
}
