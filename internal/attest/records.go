package attest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Target is one digest a push left in the registry that gets its own records: the
// pushed manifest or index, and for an index each platform manifest it names.
type Target struct {
	Digest string // "sha256:<hex>"
	// Platform is os/arch[/variant] when the records are about one platform image of a
	// multi-platform scan; "" for the whole scan.
	Platform string
}

// Targets lists what gets records after a push of scan's image whose tag now names
// pushed: the pushed digest (the whole scan, or the one platform whose manifest it
// is), and, when the push sent an index (Docker's containerd image store), every
// scanned platform manifest, each with its platform's findings. On Docker's classic
// store (no manifest digests in the scan) the pushed manifest is the one target.
func Targets(pushed string, platforms []report.Platform) []Target {
	for _, p := range platforms {
		if p.Manifest == pushed {
			return []Target{{Digest: pushed, Platform: platformOf(p, platforms)}}
		}
	}
	out := []Target{{Digest: pushed}}
	for _, p := range platforms {
		if p.Manifest != "" {
			out = append(out, Target{Digest: p.Manifest, Platform: platformOf(p, platforms)})
		}
	}
	return out
}

func platformOf(p report.Platform, all []report.Platform) string {
	if len(all) < 2 {
		return "" // a single-platform scan is whole
	}
	return p.Platform
}

// Render gives a report of the scan in one of the engine's formats ("cosign-vuln",
// "cyclonedx"), for one platform image (os/arch) or the whole scan ("").
type Render func(format, platform string) ([]byte, error)

// Gate is what the gate decided, as recorded.
type Gate struct {
	Repository string // the repository pushed to, e.g. registry.example.com/team/app
	Reference  string // the reference pushed, e.g. registry.example.com/team/app:1
	Scan       report.Scan
	Verdict    policy.Verdict // the gate's verdict on Scan
	Policy     policy.Policy
	CI         ci.Context
	Version    string // docker secscan's version
	Now        time.Time
}

// Statements makes the records of one target: the scan (Cosign's vulnerability
// predicate), the SBOM (CycloneDX with the scan's vulnerabilities) and the verdict,
// as in-toto statements (JSON) about repository@target.Digest.
func Statements(g Gate, t Target, render Render) ([][]byte, error) {
	scan := g.Scan
	if t.Platform != "" {
		scan = ForPlatform(scan, t.Platform)
	}
	v := NewVerdict(VerdictInput{Scan: scan, Verdict: g.Verdict, Policy: g.Policy, Reference: g.Reference, Digest: t.Digest, Platform: t.Platform, CI: g.CI, Version: g.Version, Now: g.Now})
	verdict, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, p := range []struct{ format, predicateType string }{
		{"cosign-vuln", PredicateVuln},
		{"cyclonedx", PredicateCycloneDX},
		{"", PredicateVerdict},
	} {
		body := verdict
		if p.format != "" {
			if body, err = render(p.format, t.Platform); err != nil {
				return nil, fmt.Errorf("the %s record of %s: %v", ShortType(p.predicateType), t.Digest, err)
			}
		}
		st, err := NewStatement(g.Repository, t.Digest, p.predicateType, body)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
