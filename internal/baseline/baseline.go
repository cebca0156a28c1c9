// Package baseline compares the findings of an image with those of a baseline (the
// image deployed now, a previous report) and says, for each finding, whether the
// change under test introduced it: new, unchanged, or fixed (in the baseline, no longer
// in the image).
//
// It holds the matching rules (Compare), the readers of baseline reports (ReadFile:
// secscan-json and Trivy's JSON), the reading of a baseline argument (ParseSpec) and the
// fetching of a baseline image from a registry (Remote). It does no scanning: the
// plugin scans a baseline image the way it scans any image.
//
// The rules, and where they come from:
//
//   - A finding is identified by what it is about, never by the version that carries it:
//     the same vulnerability ID in the same package is unchanged whatever the installed
//     or fixed version (issue 14: "an upgrade that keeps a CVE is not new"; Docker Scout's
//     compare and GitHub code scanning's alert tracking also key alerts on rule and
//     location, not on versions).
//   - IDs match when any ID of one finding equals any ID of the other, case-insensitively:
//     the vulnerability ID and its aliases (Trivy's VendorIDs, e.g. the GHSA ID of an
//     advisory Trivy reports under its CVE; the Trivy IDs of a best-practice check).
//     Trivy's DB moves an advisory from its GHSA ID to its CVE once the CVE is assigned
//     and keeps the GHSA ID among the VendorIDs, so a baseline made before that matches.
//   - Packages: OS packages match by binary package name (libssl1.1), whatever the
//     distribution release (a base image moved from Alpine 3.19 to 3.20 that still has
//     the CVE in openssl has not introduced it); language packages by name and file
//     path in the image (PkgPath, else the result target, which is the lock file for
//     lock-file results), as Trivy identifies them (issue 14: "language packages match
//     by package and path"), so the same library vendored in a second place is new.
//   - Secrets match by rule ID and file (not line: an edit above moves it);
//     best-practice checks by check ID.
//   - The platform is not part of the match: a baseline may be a single-platform scan
//     or a Trivy report, which has none.
//
// A baseline never hides anything: Compare only labels; the gate decides what a label
// changes (policy gate.new-only), and every finding stays in every report.
package baseline

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Change says how a finding relates to the baseline.
type Change string

// The changes.
const (
	// New: the image has the finding and the baseline does not.
	New Change = "new"
	// Unchanged: the image and the baseline both have it (versions may differ).
	Unchanged Change = "unchanged"
	// Fixed: the baseline has it and the image does not (the package was upgraded or
	// removed, or the advisory withdrawn).
	Fixed Change = "fixed"
)

// Baseline is what an image is compared with: the findings of the baseline image or
// report, and where they came from.
type Baseline struct {
	// Source names the baseline for people, e.g. "report.json (secscan-json)",
	// "registry.example.com/app:main (sha256:0a1b..., from the registry)".
	Source string `json:"source"`
	// Findings are the baseline's findings (every disposition: an excepted finding is
	// still a finding of the baseline).
	Findings []report.Finding `json:"-"`
	// DB is when the vulnerability DB the findings were found with was updated (zero:
	// not known). A baseline is only comparable with a scan against the same DB: an
	// advisory published in between would otherwise look new.
	DB time.Time `json:"-"`
}

// Comparison is the result of Compare.
type Comparison struct {
	Source string `json:"source"` // Baseline.Source
	// Changes holds the change of each current finding, in the order of the findings
	// given to Compare (New or Unchanged).
	Changes []Change `json:"-"`
	// Fixed are the baseline findings that no current finding matches.
	Fixed []report.Finding `json:"-"`
	// The counts: New + Unchanged is the number of current findings.
	New       int `json:"new"`
	Unchanged int `json:"unchanged"`
	FixedN    int `json:"fixed"`
}

// Summary is the counts as the reports lead with them: "2 new, 3 unchanged, 1 fixed".
func (c Comparison) Summary() string {
	return fmt.Sprintf("%d new, %d unchanged, %d fixed", c.New, c.Unchanged, c.FixedN)
}

// Compare labels each of current (the image's findings) New or Unchanged by the rules of
// the package comment, and lists the findings of base that none of them matches as
// Fixed. A baseline finding may match several current findings (the same package in
// two platform images, or at two versions) and the other way round.
func Compare(current []report.Finding, base Baseline) Comparison {
	type entry struct {
		ids     []string
		matched bool
	}
	index := map[key][]*entry{}
	entries := make([]*entry, len(base.Findings))
	for i, f := range base.Findings {
		e := &entry{ids: ids(f)}
		entries[i] = e
		k := keyOf(f)
		index[k] = append(index[k], e)
	}
	c := Comparison{Source: base.Source, Changes: make([]Change, len(current))}
	for i, f := range current {
		c.Changes[i] = New
		mine := ids(f)
		for _, e := range index[keyOf(f)] {
			if overlap(mine, e.ids) {
				e.matched = true
				c.Changes[i] = Unchanged
			}
		}
		if c.Changes[i] == New {
			c.New++
		} else {
			c.Unchanged++
		}
	}
	for i, e := range entries {
		if !e.matched {
			c.Fixed = append(c.Fixed, base.Findings[i])
		}
	}
	c.FixedN = len(c.Fixed)
	return c
}

// key is what two findings must share, besides an ID, to be the same finding.
type key struct {
	kind string // report.KindVulnerability, KindBestPractice or KindSecret
	pkg  string // package name (vulnerabilities)
	path string // file in the image (language packages, secrets)
}

// keyOf is the key of a finding (see the package comment).
func keyOf(f report.Finding) key {
	switch f.Kind {
	case report.KindBestPractice:
		return key{kind: report.KindBestPractice}
	case report.KindSecret:
		return key{kind: report.KindSecret, path: cleanPath(f.PkgPath, f.Target)}
	}
	k := key{kind: report.KindVulnerability, pkg: f.PkgName}
	if f.Class == LangPkgs {
		k.path = cleanPath(f.PkgPath, f.Target)
	}
	return k
}

// LangPkgs is Trivy's result class of language packages (types.ClassLangPkg).
const LangPkgs = "lang-pkgs"

// platformSuffix is the " [linux/arm64]" our multi-platform scans add to targets.
var platformSuffix = regexp.MustCompile(` \[[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?\]$`)

// cleanPath is a file path inside the image as both kinds of report spell it: no
// leading "/" or "./", no platform suffix; the target when the path is empty.
func cleanPath(p, target string) string {
	if p == "" {
		p = platformSuffix.ReplaceAllString(target, "")
	}
	for {
		switch {
		case strings.HasPrefix(p, "/"):
			p = p[1:]
		case strings.HasPrefix(p, "./"):
			p = p[2:]
		default:
			return p
		}
	}
}

// ids are the upper-case IDs of a finding: its ID and aliases.
func ids(f report.Finding) []string {
	out := make([]string, 0, 1+len(f.Aliases))
	for _, s := range append([]string{f.VulnerabilityID}, f.Aliases...) {
		if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func overlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
