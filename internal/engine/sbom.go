package engine

import (
	"context"
	"fmt"
)

// CmdScanSBOM scans the packages an SBOM lists against the DB (no image).
const CmdScanSBOM = "scan-sbom"

// SBOMScanRequest asks for the vulnerabilities of the packages an SBOM lists (CycloneDX
// or SPDX JSON, as `trivy sbom` reads them), with the DB that DB says.
type SBOMScanRequest struct {
	DB DBOptions `json:"db"`
	// Name names the scan (the image reference the SBOM is of).
	Name string `json:"name"`
	SBOM []byte `json:"sbom"`
}

// ScanSBOM asks the engine to scan an SBOM; the answer is a scan whose findings are the
// SBOM's packages' vulnerabilities (Image.Reference is req.Name, no image ID).
// Errors: an SBOM Trivy cannot read, no DB, or an engine that gives no valid scan.
func (c *Client) ScanSBOM(ctx context.Context, req SBOMScanRequest) (*Result, error) {
	var resp ScanResponse
	if err := c.call(ctx, CmdScanSBOM, req, &resp, nil); err != nil {
		return nil, err
	}
	if resp.Scan.Scanner == "" || resp.Scan.FinishedAt.IsZero() || len(resp.Trivy) < 2 || resp.Trivy[0] != '{' {
		return nil, fmt.Errorf("the scan engine %s gave no valid scan of the SBOM of %s: reinstall docker secscan ('make install')", c.Path, req.Name)
	}
	return &Result{Scan: resp.Scan, DBStatus: resp.DB, trivy: resp.Trivy, client: c}, nil
}
