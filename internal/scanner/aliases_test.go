package scanner

import (
	"slices"
	"testing"

	dbtypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/types"
)

// A vulnerability's VendorIDs (e.g. the GHSA ID of an advisory Trivy reports under its
// CVE) become the finding's aliases, which exceptions and baselines match (issue 14).
func TestConvertKeepsVendorIDsAsAliases(t *testing.T) {
	rep := types.Report{Results: types.Results{{
		Target: "Node.js", Class: types.ClassLangPkg, Type: "node-pkg",
		Vulnerabilities: []types.DetectedVulnerability{{
			VulnerabilityID: "CVE-2019-10744", VendorIDs: []string{"GHSA-jf85-cpcp-j695"}, PkgName: "lodash",
			PkgPath: "app/node_modules/lodash/package.json", InstalledVersion: "4.17.4",
			Vulnerability: dbtypes.Vulnerability{Severity: "CRITICAL"},
		}},
	}}}
	s := convert(rep, Image{Reference: "app:1", ID: "sha256:aa"}, DBStatus{})
	if len(s.Findings) != 1 || !slices.Equal(s.Findings[0].Aliases, []string{"GHSA-jf85-cpcp-j695"}) {
		t.Fatalf("findings %+v", s.Findings)
	}
}
