// Package report holds docker-secscan's own result model: the findings of one image
// scan, independent of the scanner library that produced them.
//
// Severities follow Trivy's (and the NVD's qualitative) scale: UNKNOWN < LOW < MEDIUM <
// HIGH < CRITICAL.
package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Severity is a vulnerability severity on Trivy's five-level scale. The zero value is
// Unknown; higher values are more severe, so severities compare with < and >=.
type Severity int

// The severities, least severe first (Trivy's dbTypes.Severity order).
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// Severities lists every severity, least severe first.
func Severities() []Severity {
	return []Severity{SeverityUnknown, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
}

// String returns the upper-case name, e.g. "HIGH".
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "UNKNOWN"
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, case-insensitively ("high", "HIGH").
// It returns an error naming the accepted values for anything else.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(strings.TrimSpace(name), n) {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("invalid severity %q: use one of %s", name, strings.Join(severityNames, ", "))
}

// MarshalText writes the severity name, so JSON carries "HIGH" rather than 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is one vulnerability in one installed package of an image: Trivy's
// DetectedVulnerability reduced to what a gate and a reader need.
type Finding struct {
	Kind             string   `json:"kind"`                   // KindVulnerability or KindBestPractice
	VulnerabilityID  string   `json:"vulnerabilityID"`        // CVE, GHSA, advisory ID; check ID for best practices
	Aliases          []string `json:"aliases,omitempty"`      // other IDs of the finding (e.g. Trivy's AVD-DS-0002 for CIS-DI-0001)
	PkgName          string   `json:"pkgName"`                // binary package name, e.g. "libssl1.1"
	PkgID            string   `json:"pkgID,omitempty"`        // name@version for language packages
	PkgPath          string   `json:"pkgPath,omitempty"`      // file inside the image, for language packages
	PURL             string   `json:"purl,omitempty"`         // package URL (purl spec)
	InstalledVersion string   `json:"installedVersion"`       // version found in the image
	FixedVersion     string   `json:"fixedVersion,omitempty"` // first version with the fix; empty when none is known
	Status           string   `json:"status,omitempty"`       // Trivy's status: fixed, affected, will_not_fix, ...
	Severity         Severity `json:"severity"`               // severity chosen by Trivy's severity-source rules
	Title            string   `json:"title,omitempty"`        // advisory title
	PrimaryURL       string   `json:"primaryURL,omitempty"`   // advisory page
	Target           string   `json:"target"`                 // Trivy result target, e.g. "img (alpine 3.9.4)"
	Class            string   `json:"class"`                  // "os-pkgs" or "lang-pkgs"
	Type             string   `json:"type"`                   // package ecosystem, e.g. "alpine", "gomod"
}

// Kinds of finding.
const (
	KindVulnerability = "vulnerability"
	KindBestPractice  = "best-practice"
)

// Fixable reports whether a fixed version is known (Trivy's status "fixed").
func (f Finding) Fixable() bool { return f.FixedVersion != "" }

// Image identifies the scanned image.
type Image struct {
	Reference   string   `json:"reference"`             // what the user named, e.g. "registry:5000/app:1"
	ID          string   `json:"id"`                    // image ID: the config digest, "sha256:..."
	RepoTags    []string `json:"repoTags,omitempty"`    // tags in the local store
	RepoDigests []string `json:"repoDigests,omitempty"` // repository digests known to the local store
	OS          string   `json:"os,omitempty"`          // detected OS, e.g. "alpine 3.9.4"; empty when none
	EOSL        bool     `json:"eosl,omitempty"`        // the OS release is past its end of service life
}

// DB describes the vulnerability database a scan used (Trivy's metadata.json).
type DB struct {
	SchemaVersion int       `json:"schemaVersion"`
	UpdatedAt     time.Time `json:"updatedAt"`
	NextUpdate    time.Time `json:"nextUpdate"`
	DownloadedAt  time.Time `json:"downloadedAt"`
}

// Scan is the result of scanning one image.
type Scan struct {
	Image      Image     `json:"image"`
	Findings   []Finding `json:"findings"`
	Packages   int       `json:"packages"` // OS and language packages found
	Scanner    string    `json:"scanner"`  // e.g. "trivy v0.74.0"
	DB         DB        `json:"db"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// BestPracticeChecks counts the image-configuration checks Trivy evaluated (passed
	// or failed) when best practices were checked; 0 then means none could run (an
	// image without build history, or a history Trivy could not read as a Dockerfile).
	BestPracticeChecks int `json:"bestPracticeChecks"`
}

// Rename makes the scan name its image as ref, as a scan under that reference would:
// the image reference and the finding targets derived from it ("REF (alpine 3.9.4)"
// for OS packages, REF for image-configuration checks), following Trivy's target
// naming. A scan is cached by image ID, so the same image under another name reuses it.
func (s *Scan) Rename(ref string) {
	old := s.Image.Reference
	if ref == "" || ref == old {
		return
	}
	s.Image.Reference = ref
	s.Findings = slices.Clone(s.Findings)
	for i, f := range s.Findings {
		s.Findings[i].Target = RenamedTarget(f.Target, old, ref)
	}
}

// RenamedTarget is target as a scan of the image named ref instead of old would name
// it, following Trivy's target naming: "OLD (alpine 3.9.4)" for OS packages, OLD for
// image-configuration checks; other targets (file paths) stay.
func RenamedTarget(target, old, ref string) string {
	switch {
	case target == old:
		return ref
	case strings.HasPrefix(target, old+" ("):
		return ref + strings.TrimPrefix(target, old)
	}
	return target
}

// CountBySeverity returns how many findings there are at each severity.
func CountBySeverity(findings []Finding) map[Severity]int {
	counts := make(map[Severity]int, len(severityNames))
	for _, f := range findings {
		counts[f.Severity]++
	}
	return counts
}
