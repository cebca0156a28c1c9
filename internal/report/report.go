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
	Kind             string   `json:"kind"`                   // KindVulnerability, KindBestPractice or KindSecret
	VulnerabilityID  string   `json:"vulnerabilityID"`        // CVE, GHSA, advisory ID; check ID for best practices
	Aliases          []string `json:"aliases,omitempty"`      // other IDs of the finding (Trivy's VendorIDs, e.g. the GHSA ID of a CVE; Trivy's AVD-DS-0002 for CIS-DI-0001)
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
	Platform         string   `json:"platform,omitempty"`     // os/arch[/variant] of the image it was found in
	// For a secret (KindSecret): the file (PkgPath), the line it starts on and the line
	// as Trivy's secret scanner redacted it (the secret itself is never kept: Trivy
	// replaces it by asterisks before it reaches us).
	StartLine int    `json:"startLine,omitempty"`
	Match     string `json:"match,omitempty"`
}

// Kinds of finding.
const (
	KindVulnerability = "vulnerability"
	KindBestPractice  = "best-practice"
	// KindSecret is a secret (a key, token or password) found in a file of the image by
	// Trivy's secret scanner: VulnerabilityID is the rule ID (e.g. aws-access-key-id),
	// PkgPath the file.
	KindSecret = "secret"
)

// Location is where a finding is: the package, or for a secret its file and line.
func (f Finding) Location() string {
	if f.Kind == KindSecret {
		if f.StartLine > 0 {
			return fmt.Sprintf("%s:%d", f.PkgPath, f.StartLine)
		}
		return f.PkgPath
	}
	return f.PkgName
}

// Fixable reports whether a fixed version is known (Trivy's status "fixed").
func (f Finding) Fixable() bool { return f.FixedVersion != "" }

// Image identifies the scanned image and says what the scan looked at.
type Image struct {
	Reference string `json:"reference"` // what the user named, e.g. "registry:5000/app:1"
	// ID is the local image ID, "sha256:...": the config digest on Docker's classic
	// image store; on the containerd image store (Docker 29's default) the digest of
	// the image index or manifest, which is also what a push sends as the tag's digest.
	ID          string   `json:"id"`
	RepoTags    []string `json:"repoTags,omitempty"`    // tags in the local store
	RepoDigests []string `json:"repoDigests,omitempty"` // repository digests known to the local store
	OS          string   `json:"os,omitempty"`          // detected OS, e.g. "alpine 3.9.4"; empty when none (several platforms: each once, comma-separated)
	EOSL        bool     `json:"eosl,omitempty"`        // an OS release is past its end of service life
	// Platforms are the platform images scanned: one for a single-platform image,
	// each platform a push sends for a multi-platform index.
	Platforms []Platform `json:"platforms,omitempty"`
	// Attestations are the attestation manifests the image carries (BuildKit's
	// provenance and SBOM): not images, not scanned.
	Attestations []Attestation `json:"attestations,omitempty"`
	// Absent lists platforms the image index names that the local store does not hold
	// ("linux/arm64 sha256:..."): neither scanned nor pushed.
	Absent []string `json:"absent,omitempty"`
}

// Platform is what a scan looked at in one platform image: the proof that it read
// something (layers, packages, OS data), never an empty "nothing found".
type Platform struct {
	Platform string `json:"platform"`           // os/arch[/variant], e.g. "linux/arm64/v8"
	Manifest string `json:"manifest,omitempty"` // image manifest digest ("" on the classic store)
	Config   string `json:"config"`             // image config digest
	OS       string `json:"os,omitempty"`       // detected OS, e.g. "alpine 3.20.3"; empty when none
	EOSL     bool   `json:"eosl,omitempty"`
	Layers   int    `json:"layers"`   // layers of the image
	Analysed int    `json:"analysed"` // layers read and analysed in this scan (the others came from the layer cache)
	Packages int    `json:"packages"` // OS and language packages found
	// OSUnchecked says why the OS packages were not checked for vulnerabilities although
	// an OS was detected: no vulnerability data covers its family or release (Debian
	// testing, a release newer than the DB or one the DB dropped); "" when they were.
	OSUnchecked string `json:"osUnchecked,omitempty"`
}

// UncheckedOS lists, for each platform image whose OS packages were not checked
// (Platform.OSUnchecked), why, prefixed with the platform in a multi-platform scan.
func (s Scan) UncheckedOS() []string {
	var out []string
	for _, p := range s.Image.Platforms {
		if p.OSUnchecked == "" {
			continue
		}
		if len(s.Image.Platforms) > 1 {
			out = append(out, p.Platform+": "+p.OSUnchecked)
		} else {
			out = append(out, p.OSUnchecked)
		}
	}
	return out
}

// Attestation is an attestation manifest attached to the image (BuildKit stores them
// in the image index, annotated vnd.docker.reference.type=attestation-manifest).
type Attestation struct {
	Manifest       string   `json:"manifest"`                 // attestation manifest digest
	For            string   `json:"for,omitempty"`            // manifest digest of the image it describes
	Platform       string   `json:"platform,omitempty"`       // platform of that image, when scanned
	PredicateTypes []string `json:"predicateTypes,omitempty"` // in-toto predicate types, e.g. "https://spdx.dev/Document"
	// SBOMPackages counts the packages of its SBOM (SPDX packages or CycloneDX
	// components), -1 when it holds no SBOM that could be read.
	SBOMPackages int `json:"sbomPackages"`
}

// PlatformOf returns the platform scan named p, or nil.
func (im Image) PlatformOf(p string) *Platform {
	for i := range im.Platforms {
		if im.Platforms[i].Platform == p {
			return &im.Platforms[i]
		}
	}
	return nil
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
// image-configuration checks, each followed by " [os/arch]" in a multi-platform scan;
// other targets (file paths) stay.
func RenamedTarget(target, old, ref string) string {
	switch {
	case target == old:
		return ref
	case strings.HasPrefix(target, old+" ("), strings.HasPrefix(target, old+" ["):
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

// Describe says what the scan of one platform image looked at, e.g. "linux/amd64:
// alpine 3.9.4, 1 layer (1 analysed now), 14 packages".
func (p Platform) Describe() string {
	osName := p.OS
	if osName == "" {
		osName = "no OS detected"
	}
	if p.EOSL {
		osName += " (end of life)"
	}
	if p.OSUnchecked != "" {
		osName += " (OS packages NOT checked: no vulnerability data covers it)"
	}
	layers := fmt.Sprintf("%d layers", p.Layers)
	if p.Layers == 1 {
		layers = "1 layer"
	}
	return fmt.Sprintf("%s: %s, %s (%d analysed now, the rest from the layer cache), %d packages", p.Platform, osName, layers, p.Analysed, p.Packages)
}

// DescribeAttestations says which attestations the image carries, e.g. "2 attestation
// manifests (not scanned): SBOM for linux/amd64 (15 packages), provenance".
func DescribeAttestations(as []Attestation) string {
	if len(as) == 0 {
		return ""
	}
	var parts []string
	for _, a := range as {
		kind := "attestation"
		for _, t := range a.PredicateTypes {
			switch low := strings.ToLower(t); {
			case strings.Contains(low, "spdx"), strings.Contains(low, "cyclonedx"):
				kind = "SBOM"
			case strings.Contains(low, "provenance"):
				if kind != "SBOM" {
					kind = "provenance"
				}
			}
		}
		if a.Platform != "" {
			kind += " for " + a.Platform
		}
		if a.SBOMPackages >= 0 {
			kind += fmt.Sprintf(" (%d packages)", a.SBOMPackages)
		}
		parts = append(parts, kind)
	}
	n := fmt.Sprintf("%d attestation manifests", len(as))
	if len(as) == 1 {
		n = "1 attestation manifest"
	}
	return n + " (not images, not scanned): " + strings.Join(parts, ", ")
}
