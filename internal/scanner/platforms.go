package scanner

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/docker-secscan/docker-secscan/internal/dockerarchive"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// platformTargets names each result of a multi-platform scan after its platform:
// Trivy's target followed by " [os/arch[/variant]]" (report.RenamedTarget knows the
// form), so that the same package in two platform images gives two findings that
// suppressions and readers can tell apart. A single-platform scan keeps Trivy's
// targets as `trivy image` writes them. reps[i] is the report of res.Images[i].
func platformTargets(reps []types.Report, res dockerarchive.Resolved) []types.Report {
	if len(reps) < 2 {
		return reps
	}
	out := make([]types.Report, len(reps))
	for i, rep := range reps {
		rep.Results = slices.Clone(rep.Results)
		for j := range rep.Results {
			rep.Results[j].Target += " [" + res.Images[i].Platform + "]"
		}
		out[i] = rep
	}
	return out
}

// mergeReports makes one Trivy report of the platform reports: the first one's
// metadata, every platform's results.
func mergeReports(reps []types.Report) types.Report {
	if len(reps) == 1 {
		return reps[0]
	}
	out := reps[0]
	out.Results = nil
	for _, rep := range reps {
		out.Results = append(out.Results, rep.Results...)
	}
	return out
}

// convertPlatforms converts the platform reports (targets already named, see
// platformTargets) into our model: every finding with its platform, and per platform
// what the scan looked at (layers, of which analysed in this scan, packages, OS).
// analysed holds the diff IDs analysed in this scan; blobs gives the attestation
// statements, whose SBOM packages are counted.
func convertPlatforms(reps []types.Report, res dockerarchive.Resolved, img Image, st DBStatus, analysed map[string]bool, blobs dockerarchive.Blobs) report.Scan {
	out := report.Scan{
		Image:    report.Image{Reference: img.Reference, ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Absent: res.Absent},
		Scanner:  "trivy " + TrivyVersion,
		DB:       st.DB,
		Findings: []report.Finding{},
	}
	var oses []string
	byManifest := map[string]string{}
	for i, rep := range reps {
		pi := res.Images[i]
		one := convert(rep, img, st)
		for _, f := range one.Findings {
			f.Platform = pi.Platform
			if f.Kind == report.KindSecret {
				f.PkgPath = strings.TrimSuffix(f.PkgPath, " ["+pi.Platform+"]") // see platformTargets
			}
			out.Findings = append(out.Findings, f)
		}
		out.Packages += one.Packages
		n := 0
		for _, d := range pi.DiffIDs {
			if analysed[d] {
				n++
			}
		}
		out.Image.Platforms = append(out.Image.Platforms, report.Platform{
			Platform: pi.Platform, Manifest: pi.Manifest, Config: pi.Config, OS: one.Image.OS, EOSL: one.Image.EOSL,
			Layers: len(pi.DiffIDs), Analysed: n, Packages: one.Packages,
		})
		if one.Image.OS != "" && !slices.Contains(oses, one.Image.OS) {
			oses = append(oses, one.Image.OS)
		}
		out.Image.EOSL = out.Image.EOSL || one.Image.EOSL
		if pi.Manifest != "" {
			byManifest[pi.Manifest] = pi.Platform
		}
	}
	out.Image.OS = strings.Join(oses, ", ")
	for _, a := range res.Attestations {
		out.Image.Attestations = append(out.Image.Attestations, report.Attestation{
			Manifest: a.Manifest, For: a.For, Platform: byManifest[a.For], PredicateTypes: a.PredicateTypes,
			SBOMPackages: sbomPackages(a, blobs),
		})
	}
	return out
}

// sbomPackages counts the packages of the SBOM an attestation carries: the packages of
// an SPDX document or the components of a CycloneDX BOM, as in-toto predicates
// (BuildKit docs/attestations/sbom.md); -1 when it carries none that could be read.
func sbomPackages(a dockerarchive.Attestation, blobs dockerarchive.Blobs) int {
	for i, pt := range a.PredicateTypes {
		low := strings.ToLower(pt)
		if !strings.Contains(low, "spdx") && !strings.Contains(low, "cyclonedx") {
			continue
		}
		raw, ok := blobs(a.Layers[i])
		if !ok || dockerarchive.Digest(raw) != a.Layers[i] {
			continue
		}
		var stmt struct {
			Predicate struct {
				Packages   []json.RawMessage `json:"packages"`
				Components []json.RawMessage `json:"components"`
			} `json:"predicate"`
		}
		if json.Unmarshal(raw, &stmt) != nil {
			continue
		}
		if strings.Contains(low, "spdx") {
			return len(stmt.Predicate.Packages)
		}
		return len(stmt.Predicate.Components)
	}
	return -1
}

// onePlatform keeps the results of one platform image of a multi-platform report
// (targets suffixed by platformTargets), with the suffix taken off; a platform image
// with no results gives none. platforms lists the scan's platforms: with fewer than
// two (a single-platform scan, targets as Trivy names them) the report is whole, and a
// platform the scan does not have is an error.
func onePlatform(rep types.Report, platform string, platforms []string) (types.Report, error) {
	if len(platforms) < 2 {
		if len(platforms) == 1 && platforms[0] != platform {
			return rep, fmt.Errorf("the scan has no platform %s (it has %s)", platform, platforms[0])
		}
		return rep, nil
	}
	if !slices.Contains(platforms, platform) {
		return rep, fmt.Errorf("the scan has no platform %s (it has %s)", platform, strings.Join(platforms, ", "))
	}
	suffix := " [" + platform + "]"
	kept := types.Results{}
	for _, r := range rep.Results {
		if t, ok := strings.CutSuffix(r.Target, suffix); ok {
			r.Target = t
			kept = append(kept, r)
		}
	}
	rep.Results = kept
	return rep, nil
}
