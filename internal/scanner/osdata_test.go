package scanner

import (
	"errors"
	"strings"
	"testing"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// TestOSDataGap: an OS detected but not covered by the DB (Debian testing/sid, an
// unknown or future release, an EOL release the DB has dropped, a family Trivy has no
// driver for) is reported as not checked, for every family Trivy's DB knows; a covered
// release is not.
func TestOSDataGap(t *testing.T) {
	// The buckets of a DB: one release of each family.
	db := map[string]bool{
		"debian 12": true, "ubuntu 22.04": true, "ubuntu 14.04-ESM": true, "alpine 3.20": true, "alpine edge": true,
		"alma 9": true, "rocky 9": true, "Oracle Linux 8": true, "amazon linux 2": true, "amazon linux 1": true,
		"Photon OS 5.0": true, "Azure Linux 3.0": true, "CBL-Mariner 2.0": true, "openSUSE Leap 15.5": true,
		"openSUSE Tumbleweed": true, "SUSE Linux Enterprise 15.5": true, "SUSE Linux Enterprise Micro 5.5": true,
		"wolfi": true, "chainguard": true, "Red Hat": true,
	}
	has := func(name string, prefix bool) bool {
		for b := range db {
			if b == name || (prefix && strings.HasPrefix(b, name)) {
				return true
			}
		}
		return false
	}
	pkgs := []ftypes.Package{{Name: "tar", Version: "1.34"}}
	for _, tc := range []struct {
		family  ftypes.OSType
		name    string
		scanned bool
		want    string // a part of the reason; "" for covered
	}{
		{ftypes.Debian, "12.15", true, ""},
		{ftypes.Debian, "bookworm/sid", true, "Debian testing or unstable"},
		{ftypes.Debian, "trixie/sid", true, "Debian testing or unstable"},
		{ftypes.Debian, "13.1", true, "debian release 13"},
		{ftypes.Debian, "7.11", true, "debian release 7"},
		{ftypes.Debian, "", true, "release could not be read"},
		{ftypes.Debian, "13.1", true, "not checked"},
		{ftypes.Ubuntu, "22.04", true, ""},
		{ftypes.Ubuntu, "14.04-ESM", true, ""},
		{ftypes.Ubuntu, "26.10", true, "ubuntu release 26.10"},
		{ftypes.Alpine, "3.20.3", true, ""},
		{ftypes.Alpine, "3.21.0_alpha20240807", true, ""}, // edge
		{ftypes.Alpine, "3.23.1", true, "alpine release 3.23"},
		{ftypes.Alpine, "2.7.0", true, "alpine release 2.7"},
		{ftypes.Alma, "9.4", true, ""},
		{ftypes.Alma, "10.0", true, "alma release 10"},
		{ftypes.Rocky, "8.9", true, "rocky release 8"},
		{ftypes.Oracle, "8.10", true, ""},
		{ftypes.Amazon, "2 (Karoo)", true, ""},
		{ftypes.Amazon, "2023.5.20240708", true, "amazon release 2023"},
		{ftypes.Amazon, "2018.03", true, ""}, // Amazon Linux 1
		{ftypes.Photon, "5.0", true, ""},
		{ftypes.Photon, "6.0", true, "photon release 6.0"},
		{ftypes.Azure, "3.0.20240727", true, ""},
		{ftypes.CBLMariner, "1.0.2022", true, "cbl-mariner release 1.0"},
		{ftypes.OpenSUSELeap, "15.5", true, ""},
		{ftypes.OpenSUSELeap, "16.0", true, "opensuse-leap release 16.0"},
		{ftypes.OpenSUSETumbleweed, "20240801", true, ""},
		{ftypes.SLES, "15.5", true, ""},
		{ftypes.SLES, "12.5", true, "sles release 12.5"},
		{ftypes.SLEMicro, "5.5", true, ""},
		{ftypes.Wolfi, "20230201", true, ""},
		{ftypes.Chainguard, "20230214", true, ""},
		{ftypes.Echo, "1", true, "no data for this OS family at all"},
		{ftypes.MinimOS, "20250101", true, "no data for this OS family at all"},
		{ftypes.Bottlerocket, "1.20.0", true, "no data for this OS family at all"},
		{ftypes.RedHat, "9.4", true, ""},
		{ftypes.CentOS, "7.9.2009", true, ""},
		{ftypes.CoreOS, "40.20240728.3.0", true, "does not check the packages of Fedora CoreOS"},
		// Families Trivy has no driver for: it drops the OS result ("Unsupported os").
		{ftypes.Fedora, "40", false, `no vulnerability data for the OS family "fedora"`},
		{ftypes.CentOSStream, "9", false, `"centos-stream"`},
		{ftypes.OpenSUSE, "42.3", false, `"opensuse"`},
		// No OS packages to check: nothing to say.
		{ftypes.ActiveState, "1", false, ""},
	} {
		o := &ftypes.OS{Family: tc.family, Name: tc.name}
		got := osDataGap(o, tc.scanned, pkgs, has)
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s %s: covered, but got %q", tc.family, tc.name, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s %s: got %q, want it to say %q", tc.family, tc.name, got, tc.want)
		case tc.want != "" && !strings.Contains(got, "not checked") && !strings.Contains(got, "does not check"):
			t.Errorf("%s %s: %q does not say the OS packages were not checked", tc.family, tc.name, got)
		}
	}
	if got := osDataGap(&ftypes.OS{Family: ftypes.Debian, Name: "bookworm/sid"}, true, nil, has); got != "" {
		t.Errorf("no OS packages to check: %q", got)
	}
	if got := osDataGap(nil, false, nil, has); got != "" {
		t.Errorf("no OS: %q", got)
	}
	// A vendor feed chosen from the packages (root.io) has its own buckets.
	if got := osDataGap(&ftypes.OS{Family: ftypes.Debian, Name: "13.1"}, true,
		[]ftypes.Package{{Name: "openssl", Version: "3.0.11-1~deb12u2.root.io.1"}}, has); got != "" {
		t.Errorf("a root.io image: %q", got)
	}
}

// TestOSDataGapsMarkThePlatforms: the fact lands on each platform of report.Scan, which a
// cached scan keeps, and Scan.UncheckedOS names the platform in a multi-platform scan.
func TestOSDataGapsMarkThePlatforms(t *testing.T) {
	sid := types.Report{Metadata: types.Metadata{OS: &ftypes.OS{Family: ftypes.Debian, Name: "bookworm/sid"}},
		Results: types.Results{{Class: types.ClassOSPkg, Packages: []ftypes.Package{{Name: "tar"}}}}}
	released := types.Report{Metadata: types.Metadata{OS: &ftypes.OS{Family: ftypes.Debian, Name: "12.15"}},
		Results: types.Results{{Class: types.ClassOSPkg, Packages: []ftypes.Package{{Name: "tar"}}}}}
	out := report.Scan{Image: report.Image{Platforms: []report.Platform{{Platform: "linux/amd64"}, {Platform: "linux/arm64"}}}}
	defer func(f func(string, bool) bool) { bucketLookup = f }(bucketLookup)
	bucketLookup = func(name string, _ bool) bool { return name == "debian 12" }
	if err := osDataGaps([]types.Report{sid, released}, &out, nil); err != nil {
		t.Fatal(err)
	}
	u := out.UncheckedOS()
	if len(u) != 1 || !strings.HasPrefix(u[0], "linux/amd64: ") || !strings.Contains(u[0], "testing") {
		t.Fatalf("UncheckedOS: %q", u)
	}
}

// TestOSDataGapsThroughAServer: through a Trivy server the DB's buckets are not here:
// a release whose scan found no vulnerability is asked of the server (probe); the
// family check needs no DB and applies as without a server; a found vulnerability
// proves the data is there (no probe); a failed probe fails the scan.
func TestOSDataGapsThroughAServer(t *testing.T) {
	alpine := func(name string, vulns int) types.Report {
		r := types.Result{Class: types.ClassOSPkg, Packages: []ftypes.Package{{Name: "musl", Version: "1.1.24-r2"}}}
		for range vulns {
			r.Vulnerabilities = append(r.Vulnerabilities, types.DetectedVulnerability{VulnerabilityID: "CVE-1"})
		}
		return types.Report{Metadata: types.Metadata{OS: &ftypes.OS{Family: ftypes.Alpine, Name: name}}, Results: types.Results{r}}
	}
	fedora := types.Report{Metadata: types.Metadata{OS: &ftypes.OS{Family: "fedora", Name: "40"}}}
	defer func(f func(string, bool) bool) { bucketLookup = f }(bucketLookup)
	bucketLookup = func(string, bool) bool { t.Fatal("a bucket looked up through a server"); return true }
	var probed []string
	probe := func(covers bool, err error) func(ftypes.OS, []ftypes.Package) (bool, error) {
		return func(o ftypes.OS, pkgs []ftypes.Package) (bool, error) {
			probed = append(probed, o.Name)
			return covers, err
		}
	}
	for _, tc := range []struct {
		rep    types.Report
		covers bool
		want   string
		probes int
	}{
		{alpine("3.11.5", 0), false, "no vulnerability data covers alpine release 3.11 (alpine 3.11.5) on the Trivy server", 1},
		{alpine("3.10.4", 0), true, "", 1},
		{alpine("3.9.4", 3), false, "", 0},
		{fedora, true, `no vulnerability data for the OS family "fedora"`, 0},
	} {
		probed = nil
		out := report.Scan{Image: report.Image{Platforms: []report.Platform{{Platform: "linux/amd64"}}}}
		if err := osDataGaps([]types.Report{tc.rep}, &out, probe(tc.covers, nil)); err != nil {
			t.Fatal(err)
		}
		got := out.Image.Platforms[0].OSUnchecked
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.rep.Metadata.OS.Name, got, tc.want)
		}
		if len(probed) != tc.probes {
			t.Errorf("%s: %d probes, want %d", tc.rep.Metadata.OS.Name, len(probed), tc.probes)
		}
	}
	out := report.Scan{Image: report.Image{Platforms: []report.Platform{{Platform: "linux/amd64"}}}}
	if err := osDataGaps([]types.Report{alpine("3.11.5", 0)}, &out, probe(false, errors.New("server gone"))); err == nil {
		t.Error("a failed probe should fail the scan")
	}
}
