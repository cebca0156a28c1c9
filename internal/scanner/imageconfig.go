package scanner

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aquasecurity/trivy/pkg/cache"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/scan/local"
	"github.com/aquasecurity/trivy/pkg/types"
)

// The image config's best-practice checks through a shared cache.
//
// Trivy analyses an image's config (the Dockerfile it rebuilds from the history, and
// secrets in the config) on the client, and keeps the analysis in the cache's artifact
// entry. Through a Trivy server, that entry goes over Trivy's cache RPC
// (pkg/rpc.ConvertToRPCArtifactInfo), whose ArtifactInfo message has no field for the
// config's misconfigurations: the server keeps the entry without them, and its Scan
// RPC, which builds the misconfiguration results from that entry, returns none. So
// `trivy image --server --image-config-scanners misconfig` runs no check, and the
// entry, now in the server's Redis, also has no checks for a runner that scans with
// that Redis as its own cache (same key). Trusted as it is, the shared entry makes the
// gate (gate.best-practices) pass an image it blocks on one machine.
//
// configCapture fixes both: with best-practice checks on and a shared cache (a server,
// or Redis), the artifact entry is always reported missing, so Trivy's image artifact
// analyses the config here (milliseconds: the config only, no layer), and the analysis
// is kept in memory for this scan. A local scan reads it back from there (GetArtifact),
// a server scan gets the misconfiguration results added to the server's answer
// (remoteBackend), computed as Trivy's local scanner computes them.

// configCapture wraps the layer cache of a scan.
type configCapture struct {
	cache.ArtifactCache
	local cache.LocalArtifactCache // nil through a server
	// force reports the artifact entry missing, so its config is analysed here.
	force bool

	mu    sync.Mutex
	infos map[string]ftypes.ArtifactInfo // by artifact key: analysed in this scan
}

func newConfigCapture(c cache.ArtifactCache, l cache.LocalArtifactCache, force bool) *configCapture {
	return &configCapture{ArtifactCache: c, local: l, force: force, infos: map[string]ftypes.ArtifactInfo{}}
}

// MissingBlobs reports the artifact missing when the capture is forced (a plan asks
// about layers only, with no artifact key).
func (c *configCapture) MissingBlobs(ctx context.Context, artifactID string, blobIDs []string) (bool, []string, error) {
	missing, blobs, err := c.ArtifactCache.MissingBlobs(ctx, artifactID, blobIDs)
	if err == nil && c.force && artifactID != "" {
		missing = true
	}
	return missing, blobs, err
}

// PutArtifact keeps the analysis of the config, then stores it in the cache.
func (c *configCapture) PutArtifact(ctx context.Context, artifactID string, info ftypes.ArtifactInfo) error {
	c.mu.Lock()
	c.infos[artifactID] = info
	c.mu.Unlock()
	return c.ArtifactCache.PutArtifact(ctx, artifactID, info)
}

// analysed returns the config analysis made in this scan for artifact key id.
func (c *configCapture) analysed(id string) (ftypes.ArtifactInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.infos[id]
	return info, ok
}

// localCache is the cache a local scan reads: the artifact entry analysed in this scan
// wins over the shared one.
func (c *configCapture) localCache() cache.LocalArtifactCache { return capturedLocal{c} }

type capturedLocal struct{ c *configCapture }

func (l capturedLocal) GetArtifact(ctx context.Context, id string) (ftypes.ArtifactInfo, error) {
	if info, ok := l.c.analysed(id); ok {
		return info, nil
	}
	return l.c.local.GetArtifact(ctx, id)
}
func (l capturedLocal) GetBlob(ctx context.Context, id string) (ftypes.BlobInfo, error) {
	return l.c.local.GetBlob(ctx, id)
}
func (l capturedLocal) Close() error                    { return l.c.local.Close() }
func (l capturedLocal) Clear(ctx context.Context) error { return l.c.local.Clear(ctx) }

// remoteBackend is Trivy's RPC client with the config's checks added to the server's
// answer (see above). With checks asked for (bestPractices) and no analysis of the
// config made in this scan, the scan fails: the gate never passes on checks that did
// not run.
type remoteBackend struct {
	scan.Backend
	capture       *configCapture
	bestPractices bool
}

func (b remoteBackend) Scan(ctx context.Context, target, artifactKey string, blobKeys []string, opts types.ScanOptions) (types.ScanResponse, error) {
	resp, err := b.Backend.Scan(ctx, target, artifactKey, blobKeys, opts)
	if err != nil || !b.bestPractices {
		return resp, err
	}
	info, ok := b.capture.analysed(artifactKey)
	if !ok {
		return types.ScanResponse{}, fmt.Errorf("the image config of %s was not analysed on this runner, and a Trivy server does not return its best-practice checks: nothing is reported for checks that did not run (internal)", target)
	}
	resp.Results = withConfigChecks(resp.Results, target, info)
	return resp, nil
}

// withConfigChecks adds the results of the config's checks (info.Misconfiguration) to
// results, as Trivy's local scanner builds them (pkg/scan/local: the config's
// misconfiguration targeted at the image, after the package results), unless the
// server returned them itself (a Trivy whose RPC carries them).
func withConfigChecks(results types.Results, target string, info ftypes.ArtifactInfo) types.Results {
	if info.Misconfiguration == nil {
		return results
	}
	for _, r := range results {
		if r.Class == types.ClassConfig && r.Target == target {
			return results
		}
	}
	m := *info.Misconfiguration
	m.FilePath = target
	add := local.Service{}.MisconfsToResults([]ftypes.Misconfiguration{m})
	at := slices.IndexFunc(results, func(r types.Result) bool {
		return r.Class != types.ClassOSPkg && r.Class != types.ClassLangPkg
	})
	if at < 0 {
		at = len(results)
	}
	return slices.Insert(slices.Clone(results), at, add...)
}
