package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/docker-secscan/docker-secscan/internal/attest"
	"github.com/docker-secscan/docker-secscan/internal/baseline"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

func init() { baseline.AttachedRecord = attachedBaseline }

// attachedBaseline is a registry baseline's attached verdict record (push --attach):
// its findings, as the gate recorded them at the push, instead of a scan of the image.
// ok=false when the digest has no usable record (the image is then scanned).
func attachedBaseline(ctx context.Context, repo name.Repository, digest string, acc baseline.Access) (baseline.Baseline, bool, error) {
	v, ok, err := attest.Latest(repo.Digest(digest), acc.Options(ctx)...)
	if err != nil || !ok {
		return baseline.Baseline{}, false, err
	}
	source := fmt.Sprintf("%s@%s (its record attached at the push of %s, DB of %s)", repo.Name(), shortID(digest),
		v.GatedAt.UTC().Format("2006-01-02 15:04 UTC"), v.DB.UpdatedAt.UTC().Format(time.DateOnly))
	b := baseline.FromScan(source, report.Scan{Findings: v.Findings})
	b.DB = v.DB.UpdatedAt
	return b, true, nil
}
