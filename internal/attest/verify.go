package attest

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-secscan/docker-secscan/internal/policy"
)

// Outcomes of a check (Check.Outcome), worst last.
const (
	OutcomePassed  = "passed"  // a record says the gate passed (with or without warnings)
	OutcomeBlocked = "blocked" // the record says blocked or warn-mode, or today's policy blocks
	OutcomeInvalid = "invalid" // no usable record: none, too old, bad signature, unreadable
)

// CheckOptions say what a record must satisfy.
type CheckOptions struct {
	// Key, when set, is the public key the verdict record must be signed with;
	// unsigned records are then ignored and a record signed otherwise fails the check.
	Key crypto.PublicKey
	// MaxAge, when positive, is how old the record may be (from its gatedAt).
	MaxAge time.Duration
	// Policy, when set, judges the recorded findings again (today's policy).
	Policy *policy.Policy
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
	Rejudged        string   `json:"rejudged,omitempty"`
	RejudgedSummary string   `json:"rejudgedSummary,omitempty"`
	Notes           []string `json:"notes,omitempty"`
}

// Subjects resolves ref (name:tag or name@digest) to the digests whose records a
// verification checks: the manifest itself, or for an index the index and each
// platform manifest it names (attestation manifests, such as BuildKit's provenance,
// are not images and are skipped). Platforms are os/arch[/variant] ("" for the index
// or a lone manifest).
func Subjects(ref name.Reference, ropts ...remote.Option) ([]Target, name.Repository, error) {
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, name.Repository{}, fmt.Errorf("read %s from its registry: %v", ref, err)
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

// CheckDigest finds the newest usable verdict record attached to repo@t.Digest and
// checks it against opts. A record signed with another key, or whose content was
// changed after signing, makes the check invalid even when an older record holds
// (a record was tampered with); unsigned records are ignored when a key is given.
// Errors reading the registry are returned; everything about the records is in the
// Check.
func CheckDigest(repo name.Repository, t Target, opts CheckOptions, ropts ...remote.Option) (Check, error) {
	c := Check{Digest: t.Digest, Platform: t.Platform}
	subject := repo.Digest(t.Digest)
	recs, err := Find(subject, PredicateVerdict, opts.Key, ropts...)
	if err != nil {
		return c, err
	}
	var use *Record
	for i := range recs {
		r := &recs[i]
		switch {
		case errors.Is(r.Err, ErrBadSignature):
			c.Outcome, c.Reason, c.Record, c.Signed = OutcomeInvalid, fmt.Sprintf("the verdict record %s is signed, but not by the given key, or was changed after signing", r.Manifest), r.Manifest, true
			return c, nil
		case r.Err != nil:
			c.Notes = append(c.Notes, fmt.Sprintf("ignored: %v", r.Err))
		case use == nil:
			use = r
		}
	}
	if use == nil {
		c.Outcome, c.Reason = OutcomeInvalid, "no verdict record is attached"
		if opts.Key != nil && len(c.Notes) > 0 {
			c.Reason = "no verdict record signed with the given key is attached"
		}
		return c, nil
	}
	var v Verdict
	if err := json.Unmarshal(use.Statement.Predicate, &v); err != nil {
		c.Outcome, c.Reason = OutcomeInvalid, fmt.Sprintf("the verdict record %s does not parse: %v", use.Manifest, err)
		return c, nil
	}
	if err := ValidateVerdict(use.Statement.Predicate); err != nil {
		c.Outcome, c.Reason = OutcomeInvalid, fmt.Sprintf("the verdict record %s: %v", use.Manifest, err)
		return c, nil
	}
	c.Verdict, c.Record, c.Signed, c.Verified = &v, use.Manifest, use.Signed, use.Verified
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
	return c, nil
}

func age(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
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

// Describe is one line about c for people: the digest, the outcome, who gated it and
// when, the CI run, the policy and the counts.
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
		fmt.Fprintf(&b, "; gated %s by %s", v.GatedAt.UTC().Format("2006-01-02 15:04 UTC"), who)
		if v.CI.RunURL != "" {
			fmt.Fprintf(&b, " (%s)", v.CI.RunURL)
		}
		fmt.Fprintf(&b, " with docker secscan %s, %s; policy %s (%s, block %s, mode %s); DB of %s; %d findings: %d blocking, %d warning, %d excepted",
			v.Tool.Version, v.Scanner, shortDigest(v.Policy.Digest), v.Policy.Source, v.Policy.Block, v.Policy.Mode, v.DB.UpdatedAt.UTC().Format(time.DateOnly),
			v.Counts.Total, v.Counts.Blocking, v.Counts.Warning, v.Counts.Excepted)
		switch {
		case c.Verified:
			b.WriteString("; signature verified")
		case c.Signed:
			b.WriteString("; signed (not checked: no --key)")
		default:
			b.WriteString("; not signed")
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
