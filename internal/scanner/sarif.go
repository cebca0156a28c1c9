package scanner

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	trivyreport "github.com/aquasecurity/trivy/pkg/report"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/distribution/reference"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// sarifReport prepares a report for Trivy v0.74.0's SARIF writer so that every result's
// artifactLocation.uri is what GitHub code scanning accepts: a relative reference (RFC
// 3986 §4.2) with no scheme-like first segment and no authority. Code scanning refuses a
// whole file otherwise ("SARIF URI scheme ... did not match the checkout URI scheme",
// "first path segment in URL cannot contain colon": aquasecurity/trivy-action#114,
// github/codeql-action#1553), and Trivy's writer crashes on a target that is not a URI
// reference at all (an image reference with a registry port).
//
// The writer derives the URI from each result's target (and a vulnerability's package
// path): for OS packages the repository path of the image (its report.ToPathUri), for
// everything else the target as it is, which for the image-config results (best
// practices, secrets) is the image reference ("myapp:1", read as scheme "myapp").
// Here every result that stands for the image itself (its target is the artifact name,
// possibly followed by " (os)" or " [platform]") gets sarifImageURI of the artifact name,
// so vulnerability, best-practice and secret results of one image share one URI; file
// paths (language packages) get sarifPathURI. Input: the report as Write has it; output:
// a copy, with the same findings.
func sarifReport(rep types.Report) types.Report {
	out := rep
	out.Results = slices.Clone(rep.Results)
	image := sarifImageURI(rep.ArtifactName)
	for i, r := range out.Results {
		if isImageTarget(r.Target, rep.ArtifactName) || r.Class == types.ClassOSPkg || sarifPathURI(r.Target) == "" {
			out.Results[i].Target = image
		} else {
			out.Results[i].Target = sarifPathURI(platformSuffix.ReplaceAllString(r.Target, ""))
		}
		if len(r.Vulnerabilities) > 0 {
			vulns := slices.Clone(r.Vulnerabilities)
			for j := range vulns {
				if vulns[j].PkgPath != "" {
					vulns[j].PkgPath = sarifPathURI(vulns[j].PkgPath)
				}
			}
			out.Results[i].Vulnerabilities = vulns
		}
	}
	return out
}

// isImageTarget reports whether a result's target names the image (artifact) itself:
// the name, "name (alpine 3.9.4)" (OS packages) or "name [linux/arm64]", the forms
// report.RenamedTarget renames.
func isImageTarget(target, artifact string) bool {
	if artifact == "" {
		return false
	}
	return report.RenamedTarget(target, artifact, "\x00") != target
}

// platformSuffix is the " [os/arch[/variant]]" that names the platform image of a result
// of a multi-platform scan: a file's URI is its path, the same on every platform.
var platformSuffix = regexp.MustCompile(` \[[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9.]+)?\]$`)

// imageIDPattern is an image ID as the docker CLI accepts it: sha256:<64 hex>, or the
// hex alone.
var imageIDPattern = regexp.MustCompile(`^(?:sha256:)?([0-9a-f]{12,64})$`)

// sarifImageURI is the URI of an image in SARIF results, from however it was named:
// its repository path ("myapp:1" -> "library/myapp", "127.0.0.1:5000/team/app@sha256:..."
// -> "team/app"), which is what Trivy's writer gives its OS results (so existing alerts
// keep their location); an image ID gives "sha256/<hex>"; a name that is not a valid
// reference (e.g. with upper-case letters) loses its registry, tag and digest by the
// same rules and is escaped. The URI is a fixed point of Trivy's report.ToPathUri (a
// one-segment path "app" becomes "library/app", as Trivy would read it again for the OS
// results), so every result of the image gets the same one. It always passes sarifURIOK.
func sarifImageURI(ref string) string {
	p := imagePath(ref)
	for range 3 {
		next := trivyreport.ToPathUri(p, types.ClassOSPkg)
		if next == p || !sarifURIOK(next) {
			break
		}
		p = next
	}
	return p
}

func imagePath(ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "image"
	}
	if m := imageIDPattern.FindStringSubmatch(ref); m != nil && strings.HasPrefix(ref, "sha256:") {
		return "sha256/" + m[1]
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		return sarifPathURI(reference.Path(named))
	}
	// Not a valid reference: the same parts by hand.
	if at := strings.LastIndex(ref, "@"); at >= 0 {
		ref = ref[:at]
	}
	if colon := strings.LastIndex(ref, ":"); colon > strings.LastIndex(ref, "/") && !strings.HasSuffix(ref[:colon], "]") {
		ref = ref[:colon]
	}
	if first, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:[") || first == "localhost" || strings.ToLower(first) != first) {
		ref = rest
	}
	if p := sarifPathURI(ref); p != "" {
		return p
	}
	return "image"
}

// sarifPathURI makes a path a relative URI reference: slashes for backslashes, no
// leading "/", each segment percent-encoded (url.PathEscape, plus ":" so that no segment
// can read as a scheme). Empty segments and "." are dropped.
func sarifPathURI(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." {
			continue
		}
		segs = append(segs, strings.ReplaceAll(url.PathEscape(s), ":", "%3A"))
	}
	return strings.Join(segs, "/")
}

// sarifURIOK reports whether uri is what GitHub code scanning accepts as a result's
// artifactLocation.uri without a uriBaseId of its own: a URI reference (RFC 3986) that
// parses, relative (no scheme, no authority, not an absolute path), with no ":" in its
// first segment, and non-empty.
func sarifURIOK(uri string) bool {
	if uri == "" || strings.HasPrefix(uri, "/") {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	first, _, _ := strings.Cut(uri, "/")
	return !strings.Contains(first, ":")
}
