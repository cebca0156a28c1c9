package scanner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/bucket"
	ospkgDetector "github.com/aquasecurity/trivy/pkg/detector/ospkg"
	"github.com/aquasecurity/trivy/pkg/detector/ospkg/driver"
	"github.com/aquasecurity/trivy/pkg/detector/ospkg/rapidfort"
	"github.com/aquasecurity/trivy/pkg/detector/ospkg/rootio"
	"github.com/aquasecurity/trivy/pkg/detector/ospkg/seal"
	osver "github.com/aquasecurity/trivy/pkg/detector/ospkg/version"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"
	bolt "go.etcd.io/bbolt"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// Releases with no vulnerability data. Trivy's OS package scan (pkg/scan/ospkg,
// pkg/detector/ospkg) gives no sign when it could not check an image's OS packages:
//   - for an OS family it has no driver for (Fedora, CentOS Stream, plain openSUSE...),
//     it logs "Unsupported os" and drops the OS result: the report is that of an image
//     without OS packages;
//   - for a family it supports, each driver looks its release up in the DB's bucket of
//     that release ("debian 12", "alpine 3.20"...); when the DB has no such bucket (Debian
//     testing or unstable, whose debian_version reads "bookworm/sid" and whose os-release
//     has no VERSION_ID; a release newer than the DB; an old release the DB dropped) it
//     finds no advisory, and a release missing from its end-of-life table is taken as
//     supported: a clean scan;
//   - for Fedora CoreOS, its driver never finds anything.
//
// osDataGap tells these apart after the scan, from the OS Trivy detected, the drivers
// Trivy has and the buckets of the DB the scan used, so that the report, the summary and
// the gate say the OS packages were not checked.

// osDataGaps sets, for each platform image of out whose OS packages no vulnerability
// data covers, why (report.Platform.OSUnchecked). reps[i] is the report of
// out.Image.Platforms[i].
//
// Through a Trivy server the DB is the server's: its buckets cannot be looked up here.
// probe (non-nil through a server) asks the server instead, when the scan of a release
// found no vulnerability in its OS packages (one found proves the server has data for
// the release): see Scanner.releaseProbe. A failed probe fails the scan.
func osDataGaps(reps []types.Report, out *report.Scan, probe func(ftypes.OS, []ftypes.Package) (bool, error)) error {
	for i, rep := range reps {
		if i >= len(out.Image.Platforms) {
			break
		}
		var pkgs []ftypes.Package
		checked, vulns := false, 0
		for _, r := range rep.Results {
			if r.Class == types.ClassOSPkg {
				checked = true
				pkgs = append(pkgs, r.Packages...)
				vulns += len(r.Vulnerabilities)
			}
		}
		if probe == nil {
			out.Image.Platforms[i].OSUnchecked = osDataGap(rep.Metadata.OS, checked, pkgs, bucketLookup)
			continue
		}
		var perr error
		covered := func() bool {
			if vulns > 0 {
				return true
			}
			ok, err := probe(*rep.Metadata.OS, pkgs)
			perr = err
			return ok || err != nil
		}
		out.Image.Platforms[i].OSUnchecked = serverOSDataGap(rep.Metadata.OS, checked, pkgs, covered)
		if perr != nil {
			return perr
		}
	}
	return nil
}

// serverOSDataGap is osDataGap through a Trivy server: the family and driver checks
// are the same; whether the server's DB covers the release is covered's answer.
func serverOSDataGap(o *ftypes.OS, scanned bool, pkgs []ftypes.Package, covered func() bool) string {
	// Every bucket "missing": osDataGap then says what it says without a DB lookup
	// (an unsupported family, Fedora CoreOS), or that the release is not covered,
	// which only the server can tell.
	gap := osDataGap(o, scanned, pkgs, func(string, bool) bool { return false })
	if !strings.HasPrefix(gap, releaseGapPrefix) {
		return gap
	}
	if covered() {
		return ""
	}
	name := strings.TrimSpace(string(o.Family) + " " + o.Name)
	_, release := osBuckets(*o)
	if release == "" {
		release = "(no version)"
	}
	return fmt.Sprintf("%s %s release %s (%s) on the Trivy server: its DB has no advisory for any of the image's %d OS packages at any version (a testing or development release, a release newer than the server's DB, or one past its end of life that the DB no longer carries); its OS packages were not checked", releaseGapPrefix, o.Family, release, name, len(pkgs))
}

// releaseGapPrefix starts osDataGap's reason for a release no DB bucket covers.
const releaseGapPrefix = "no vulnerability data covers"

// bucketLookup is hasBucket (a test replaces it).
var bucketLookup = hasBucket

// hasBucket reports whether the opened vulnerability DB has a top-level bucket named
// name (or, when prefix is set, one whose name starts with name).
func hasBucket(name string, prefix bool) bool {
	conn := db.Config{}.Connection()
	if conn == nil {
		return true // no DB: nothing to say (a scan does not get here)
	}
	found := false
	_ = conn.View(func(tx *bolt.Tx) error {
		if !prefix {
			found = tx.Bucket([]byte(name)) != nil
			return nil
		}
		c := tx.Cursor()
		k, _ := c.Seek([]byte(name))
		found = k != nil && strings.HasPrefix(string(k), name)
		return nil
	})
	return found
}

// osDataGap says why the OS packages of an image whose detected OS is o were not
// checked for vulnerabilities, "" when they were (or there is no OS). scanned says
// Trivy's OS scan gave a result; pkgs are its packages; has looks a DB bucket up.
func osDataGap(o *ftypes.OS, scanned bool, pkgs []ftypes.Package, has func(name string, prefix bool) bool) string {
	if o == nil || !o.Detected() || !o.Family.HasOSPackages() {
		return ""
	}
	name := strings.TrimSpace(string(o.Family) + " " + o.Name)
	if !scanned {
		if _, err := ospkgDetector.NewDetector(types.ScanTarget{OS: *o, Packages: pkgs}); errors.Is(err, ospkgDetector.ErrUnsupportedOS) {
			return fmt.Sprintf("Trivy %s has no vulnerability data for the OS family %q (%s): its OS packages were not checked", TrivyVersion, o.Family, name)
		}
		return ""
	}
	if len(pkgs) == 0 {
		return "" // no OS packages to check (e.g. a distroless image with an os-release only)
	}
	if o.Family == ftypes.CoreOS {
		return fmt.Sprintf("Trivy %s does not check the packages of Fedora CoreOS (%s) for vulnerabilities", TrivyVersion, name)
	}
	if suppliedDriver(*o, pkgs) {
		return "" // a vendor feed (root.io, Seal, RapidFort) with its own buckets
	}
	buckets, release := osBuckets(*o)
	if buckets == nil {
		return "" // a family whose DB layout is not known here: Trivy's answer stands
	}
	for _, b := range buckets {
		if has(b.name, b.prefix) {
			return ""
		}
	}
	why := "a testing or development release, a release newer than the vulnerability DB, or one past its end of life that the DB no longer carries"
	switch {
	case release == "":
		why = "the release could not be read from the image"
	case o.Family == ftypes.Debian && (strings.Contains(o.Name, "/") || !isDigits(release)):
		why = "Debian testing or unstable (a debian_version such as \"bookworm/sid\" and no VERSION_ID in os-release): the Debian security data in the DB covers released versions only"
	case !has(buckets[0].family, true):
		why = "the vulnerability DB has no data for this OS family at all"
	}
	shown := release
	if shown == "" {
		shown = "(no version)"
	}
	return fmt.Sprintf("%s %s release %s (%s): %s; its OS packages were not checked", releaseGapPrefix, o.Family, shown, name, why)
}

type dbBucket struct {
	name   string // top-level bucket of the trivy-db
	prefix bool   // name is a prefix
	family string // prefix of every bucket of the family
}

// osBuckets returns the DB buckets in which Trivy's driver for o's family looks up
// advisories (any one is enough), with the release the driver uses; nil for a family
// this does not know. The release rules are those of each driver's Detect in
// pkg/detector/ospkg (Major, Minor, Amazon's 1/2/2022/2023...), the names those of
// trivy-db's vulnsrc/bucket.
func osBuckets(o ftypes.OS) ([]dbBucket, string) {
	one := func(b bucket.Bucket, family bucket.Bucket, release string) ([]dbBucket, string) {
		return []dbBucket{{name: b.Name(), family: family.Name()}}, release
	}
	name := strings.TrimSuffix(o.Name, "-ESM")
	switch o.Family {
	case ftypes.Debian:
		r := osver.Major(name)
		return one(bucket.NewDebian(r), bucket.NewDebian(""), r)
	case ftypes.Ubuntu:
		// Trivy looks up VERSION or VERSION-ESM (versionFromEolDates): either will do.
		bs := []dbBucket{{name: bucket.NewUbuntu(name).Name(), family: bucket.NewUbuntu("").Name()},
			{name: bucket.NewUbuntu(name + "-ESM").Name(), family: bucket.NewUbuntu("").Name()}}
		return bs, name
	case ftypes.Alpine:
		r := osver.Minor(name)
		if strings.Contains(name, "_alpha") || strings.HasSuffix(name, "edge") {
			r = "edge"
		}
		bs, _ := one(bucket.NewAlpine(r), bucket.NewAlpine(""), r)
		// Trivy prefers the release of the image's apk repositories ("edge" included).
		bs = append(bs, dbBucket{name: bucket.NewAlpine("edge").Name(), family: bucket.NewAlpine("").Name()})
		if r != "edge" {
			bs = bs[:1]
		}
		return bs, r
	case ftypes.Alma:
		r := osver.Major(name)
		return one(bucket.NewAlma(r), bucket.NewAlma(""), r)
	case ftypes.Rocky:
		r := osver.Major(name)
		return one(bucket.NewRocky(r), bucket.NewRocky(""), r)
	case ftypes.Oracle:
		r := osver.Major(name)
		return one(bucket.NewOracle(r), bucket.NewOracle(""), r)
	case ftypes.Amazon:
		r := ""
		if f := strings.Fields(name); len(f) > 0 {
			r = osver.Major(f[0])
		}
		if r != "2" && r != "2022" && r != "2023" {
			r = "1"
		}
		return one(bucket.NewAmazon(r), bucket.NewAmazon(""), r)
	case ftypes.Photon:
		return one(bucket.NewPhoton(name), bucket.NewPhoton(""), name)
	case ftypes.Azure:
		r := osver.Minor(name)
		return one(bucket.NewAzureLinux(r), bucket.NewAzureLinux(""), r)
	case ftypes.CBLMariner:
		r := osver.Minor(name)
		return one(bucket.NewMariner(r), bucket.NewMariner(""), r)
	case ftypes.OpenSUSELeap:
		return one(bucket.NewOpenSUSE(name), bucket.NewOpenSUSE(""), name)
	case ftypes.OpenSUSETumbleweed:
		return one(bucket.NewOpenSUSETumbleweed(), bucket.NewOpenSUSETumbleweed(), name)
	case ftypes.SLES:
		return one(bucket.NewSUSELinuxEnterprise(name), bucket.NewSUSELinuxEnterprise(""), name)
	case ftypes.SLEMicro:
		return one(bucket.NewSUSELinuxEnterpriseMicro(name), bucket.NewSUSELinuxEnterpriseMicro(""), name)
	case ftypes.Wolfi:
		return one(bucket.NewWolfi(""), bucket.NewWolfi(""), name)
	case ftypes.Chainguard:
		return one(bucket.NewChainguard(""), bucket.NewChainguard(""), name)
	case ftypes.Echo:
		return one(bucket.NewEcho(""), bucket.NewEcho(""), name)
	case ftypes.MinimOS:
		return one(bucket.NewMinimOS(""), bucket.NewMinimOS(""), name)
	case ftypes.Bottlerocket:
		return one(bucket.NewBottlerocket(), bucket.NewBottlerocket(), name)
	case ftypes.RedHat, ftypes.CentOS:
		// Red Hat's data (OVAL/CSAF) is not kept per release: any of it will do.
		f := bucket.NewRedHat("").Name()
		return []dbBucket{{name: f, prefix: true, family: f}}, osver.Major(name)
	}
	return nil, ""
}

// suppliedDriver reports whether a vendor feed's driver (Trivy's suppliers: root.io,
// Seal, RapidFort), chosen from the packages, scans o instead of the OS's own.
func suppliedDriver(o ftypes.OS, pkgs []ftypes.Package) bool {
	for _, supplier := range []driver.Supplier{rapidfort.Supplier, rootio.Supplier, seal.Supplier} {
		if supplier(o, pkgs) != nil {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
