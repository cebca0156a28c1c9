package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"

	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
)

// baselineScan scans a baseline image through the scan path of the image under test
// (same engine, server, DB and caches): req names the image, export gives its archive,
// label names it in the progress line.
type baselineScan func(req engine.ScanRequest, export func(context.Context) (io.ReadCloser, error), label string) (*engine.Result, error)

// compareWithBaseline reads or scans the baseline --baseline names and compares the
// scan res of img with it. It returns nil (no comparison) without --baseline. A baseline
// that cannot be read is an error (one line, naming it), unless the policy says
// gate.baseline-missing: ignore: then a note, and no comparison.
func compareWithBaseline(ctx context.Context, dockerCli command.Cli, img daemon.Image, res *engine.Result, opts *gateOptions, pol policy.Policy, scan baselineScan) (*baseline.Comparison, []string, error) {
	if opts.baseline == "" {
		return nil, nil, nil
	}
	b, err := loadBaseline(ctx, dockerCli, img, res, opts, scan)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if pol.BaselineMissing == policy.ActionIgnore {
			msg := strings.TrimSuffix(err.Error(), ".")
			if i := strings.Index(msg, "gate.baseline-missing"); i > 0 {
				if j := strings.LastIndex(msg[:i], ": "); j > 0 {
					msg = msg[:j] // the advice to set it: the policy already does
				}
			}
			note := fmt.Sprintf("no baseline: %s; gate.baseline-missing is ignore, so every finding is gated as without a baseline", msg)
			return nil, []string{note}, nil
		}
		return nil, nil, err
	}
	c := baseline.Compare(res.Scan.Findings, b)
	fmt.Fprintf(dockerCli.Err(), "Compared with the baseline %s: %s\n", c.Source, c.Summary())
	return &c, nil, nil
}

// loadBaseline reads the baseline report, or finds and scans the baseline image.
func loadBaseline(ctx context.Context, dockerCli command.Cli, img daemon.Image, res *engine.Result, opts *gateOptions, scan baselineScan) (baseline.Baseline, error) {
	spec, err := baseline.ParseSpec(opts.baseline, os.Stat)
	if err != nil {
		return baseline.Baseline{}, err
	}
	switch spec.Kind {
	case baseline.KindFile:
		return baseline.ReadFile(spec.Value)
	case baseline.KindAuto:
		tagged, err := autoRef(img)
		if err != nil {
			return baseline.Baseline{}, err
		}
		b, err := remoteBaseline(ctx, dockerCli, tagged.String(), res, opts, scan)
		if errors.Is(err, baseline.ErrNotFound) {
			return b, fmt.Errorf("--baseline auto: %s is not in the registry yet (no such tag or repository): on a first push set gate.baseline-missing: ignore, or give another --baseline", reference.FamiliarString(tagged))
		}
		return b, err
	}
	if spec.Where != baseline.WhereRegistry {
		local, err := daemon.Resolve(ctx, dockerCli.Client(), spec.Value)
		if err == nil {
			return localBaseline(ctx, dockerCli, local, res, opts, scan)
		}
		if spec.Where == baseline.WhereLocal {
			return baseline.Baseline{}, fmt.Errorf("--baseline %s: %v", spec, baselineErr(err))
		}
	}
	named, err := reference.ParseNormalizedNamed(spec.Value)
	if err != nil {
		return baseline.Baseline{}, fmt.Errorf("--baseline %s: %v", spec, err)
	}
	named = reference.TagNameOnly(named)
	b, err := remoteBaseline(ctx, dockerCli, named.String(), res, opts, scan)
	if errors.Is(err, baseline.ErrNotFound) {
		where := "no such file, no such image in the local store, and its registry does not have it"
		if spec.Where == baseline.WhereRegistry {
			where = "its registry does not have it (no such tag or repository)"
		}
		return b, fmt.Errorf("--baseline %s: %s: give a report file (secscan-json or Trivy's JSON), a local image, or an image in a registry", spec, where)
	}
	return b, err
}

// autoRef is the tag --baseline auto reads from the registry: the tag scanned or pushed
// (NAME alone is NAME:latest, as for docker push), or for a build the first -t tag (the
// built image is resolved by ID, and Input names that tag). An image named by ID or
// digest has no tag to compare with.
func autoRef(img daemon.Image) (reference.NamedTagged, error) {
	named := img.Named
	if named == nil {
		if n, err := reference.ParseNormalizedNamed(img.Input); err == nil {
			if _, ok := n.(reference.NamedTagged); ok {
				named = n
			}
		}
	}
	if named != nil {
		if _, digested := named.(reference.Digested); !digested {
			named = reference.TagNameOnly(named)
		}
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("--baseline auto compares with the tag scanned as its registry serves it, but %s is not NAME:TAG: give --baseline IMAGE or FILE", img.Input)
	}
	return tagged, nil
}

// localBaseline scans an image of the local store (the platform of --platform, as the
// image under test).
func localBaseline(ctx context.Context, dockerCli command.Cli, img daemon.Image, res *engine.Result, opts *gateOptions, scan baselineScan) (baseline.Baseline, error) {
	req := engine.ScanRequest{Image: engine.Image{Reference: img.Input, ID: img.ID, Platform: opts.platform, DiffIDs: img.DiffIDs,
		DiffIDsComplete: img.DiffIDsComplete && opts.platform == "", Available: img.Available, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests}}
	export := func(ctx context.Context) (io.ReadCloser, error) {
		return daemon.Export(ctx, dockerCli.Client(), img.ID)
	}
	label := fmt.Sprintf("the baseline %s (%s)", img.Input, shortID(img.ID))
	out, err := scan(req, export, label)
	if err != nil {
		return baseline.Baseline{}, fmt.Errorf("--baseline %s: the scan of the baseline image failed: %v", img.Input, baselineErr(err))
	}
	// Only the platforms of the image under test count (a multi-platform baseline's
	// other platforms are not "fixed" in a single-platform image).
	b := baseline.FromScan(fmt.Sprintf("%s (%s, local image)", img.Input, shortID(img.ID)), out.Scan)
	b.Findings = baseline.OnPlatforms(b.Findings, scannedPlatforms(res, opts))
	return b, nil
}

// scannedPlatforms are the platforms scanned of the image under test (--platform, else
// those of its scan), which a baseline image is read and compared for.
func scannedPlatforms(res *engine.Result, opts *gateOptions) []string {
	if opts.platform != "" {
		return []string{opts.platform}
	}
	var out []string
	for _, p := range res.Scan.Image.Platforms {
		out = append(out, p.Platform)
	}
	return out
}

// remoteBaseline reads ref as its registry serves it now (credentials from the docker
// config and insecure-registries from the daemon, as for the push) and scans it, for
// the platforms scanned of the image under test. The registry is read with
// go-containerregistry, never pulled through the daemon: the local store, and the tag
// about to be pushed, are left as they are. An attached scan record
// (baseline.AttachedRecord) is taken instead of a scan when there is one.
func remoteBaseline(ctx context.Context, dockerCli command.Cli, ref string, res *engine.Result, opts *gateOptions, scan baselineScan) (baseline.Baseline, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return baseline.Baseline{}, err
	}
	domain := reference.Domain(named)
	acc := baseline.Access{Insecure: daemon.InsecureRegistry(ctx, dockerCli.Client(), domain)}
	if creds, err := registryCredentials(dockerCli, domain); err == nil {
		acc.Auth = creds.Authenticator()
	}
	var db time.Time
	if res != nil {
		db = res.Scan.DB.UpdatedAt
	}
	return registryBaseline(ctx, named, acc, scannedPlatforms(res, opts), db, scan)
}

// registryBaseline is remoteBaseline once the registry's access is known: the image
// named as the registry serves it now, for these platforms; its attached scan record
// when there is one (baseline.AttachedRecord) made with the DB updated at db (the DB of
// the scan it is compared with; zero: any), else its scan. A record made with another
// DB is not used: an advisory published since would look new.
func registryBaseline(ctx context.Context, named reference.Named, acc baseline.Access, platforms []string, db time.Time, scan baselineScan) (baseline.Baseline, error) {
	r, err := baseline.FetchRemote(ctx, named.String(), acc, platforms)
	if err != nil {
		if errors.Is(err, baseline.ErrNotFound) {
			return baseline.Baseline{}, err
		}
		return baseline.Baseline{}, fmt.Errorf("--baseline %s: %v", reference.FamiliarString(named), err)
	}
	shown := fmt.Sprintf("%s (%s, from the registry)", reference.FamiliarString(named), shortID(r.Digest))
	if baseline.AttachedRecord != nil {
		// Issue 13: the scan record attached to that digest, when there is one.
		if b, ok, err := baseline.AttachedRecord(ctx, r.Repository(), r.Digest, acc); err == nil && ok && (db.IsZero() || b.DB.Equal(db)) {
			b.Findings = baseline.OnPlatforms(b.Findings, r.Platforms)
			return b, nil
		}
	}
	req := engine.ScanRequest{Image: engine.Image{Reference: reference.FamiliarString(named), ID: r.Digest, DiffIDs: r.DiffIDs,
		DiffIDsComplete: len(r.Manifests) == 1, RepoDigests: []string{named.Name() + "@" + r.Digest}}}
	if r.Digest != r.Manifests[0] {
		// An index: the platform images in the archive; one of several is named, as
		// --platform does, so that a record of the index the engine kept from an earlier
		// scan of more platforms is not scanned whole.
		req.Image.Available = r.Manifests
		if len(r.Manifests) == 1 {
			req.Image.Platform = r.Platforms[0]
		}
	}
	out, err := scan(req, func(ctx context.Context) (io.ReadCloser, error) { return r.Archive(ctx), nil }, "the baseline "+shown)
	if err != nil {
		return baseline.Baseline{}, fmt.Errorf("--baseline %s: the scan of the baseline image failed: %v", reference.FamiliarString(named), baselineErr(err))
	}
	// Only the platforms chosen count: a platform the image under test does not have
	// is not "fixed" in it.
	b := baseline.FromScan(shown, out.Scan)
	b.Findings = baseline.OnPlatforms(b.Findings, r.Platforms)
	return b, nil
}

// baselineErr is err on one line.
func baselineErr(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
