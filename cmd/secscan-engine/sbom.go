package main

import (
	"context"
	"fmt"
	"os"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/scanner"
)

// scanSBOM answers engine.CmdScanSBOM: the SBOM's packages against the local DB.
func scanSBOM(ctx context.Context, req engine.SBOMScanRequest) (engine.ScanResponse, error) {
	sc, err := scanner.Open(ctx, scanner.Options{
		DB: req.DB, NoProgress: true,
		OnWait: func() {
			fmt.Fprintf(os.Stderr, "Waiting for another docker secscan that is using the cache %s ...\n", req.DB.CacheDir)
		},
	})
	if err != nil {
		return engine.ScanResponse{}, err
	}
	defer sc.Close()
	res, err := sc.ScanSBOM(ctx, req.Name, req.SBOM)
	if err != nil {
		return engine.ScanResponse{}, err
	}
	raw, err := res.Trivy()
	if err != nil {
		return engine.ScanResponse{}, err
	}
	return engine.ScanResponse{Scan: res.Scan, DB: sc.DB(), Trivy: raw}, nil
}
