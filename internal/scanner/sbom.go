package scanner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artsbom "github.com/aquasecurity/trivy/pkg/fanal/artifact/sbom"
	"github.com/aquasecurity/trivy/pkg/result"
	"github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	"github.com/aquasecurity/trivy/pkg/scan/local"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/vulnerability"

	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
)

// ScanSBOM finds the vulnerabilities of the packages an SBOM lists (CycloneDX or SPDX
// JSON, as Trivy reads them: `trivy sbom FILE`) against the scanner's DB: no image is
// read. name names the scan (its image reference). The SBOM is kept in a temporary
// file while Trivy reads it. Errors: an SBOM Trivy cannot read, or a DB error.
func (s *Scanner) ScanSBOM(ctx context.Context, name string, sbom []byte) (*Result, error) {
	if s.opts.Server != nil {
		return nil, fmt.Errorf("scanning an SBOM through a Trivy server is not supported: scan it with a local DB")
	}
	started := time.Now()
	dir, err := os.MkdirTemp("", "secscan-sbom-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sbom.json")
	if err := os.WriteFile(path, sbom, 0o600); err != nil {
		return nil, err
	}
	art, err := artsbom.NewArtifact(path, s.cache, artifact.Option{NoProgress: true})
	if err != nil {
		return nil, fmt.Errorf("read the SBOM of %s: %v", name, rootCause(err))
	}
	backend := local.NewService(applier.NewApplier(s.local), ospkg.NewScanner(), langpkg.NewScanner(), vulnerability.NewClient(db.Config{}))
	rep, err := scan.NewService(backend, art).ScanArtifact(ctx, ScanOptions())
	if err != nil {
		return nil, fmt.Errorf("scan the SBOM of %s: %v", name, rootCause(err))
	}
	var all []dbTypes.Severity
	for i := range dbTypes.SeverityNames {
		all = append(all, dbTypes.Severity(i))
	}
	for i := range rep.Results {
		if err := result.FilterResult(ctx, &rep.Results[i], result.IgnoreConfig{}, result.FilterOptions{Severities: all}); err != nil {
			return nil, fmt.Errorf("scan the SBOM of %s: %v", name, err)
		}
	}
	res := &Result{trivy: rep}
	res.Scan = convert(rep, Image{Reference: name}, s.db)
	res.StartedAt, res.FinishedAt = started, time.Now()
	return res, nil
}
