package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A scan with the secret scanner is not the scan without it, and the rules of the
// secret-config file are part of what the scan found.
func TestScanCacheKeyCoversSecrets(t *testing.T) {
	c := ScanCache{Dir: t.TempDir()}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	req := ScanRequest{Image: Image{ID: "sha256:aa"}}
	off := c.Key(req, at)
	req.Secrets = true
	on := c.Key(req, at)
	cfg := filepath.Join(t.TempDir(), "trivy-secret.yaml")
	_ = os.WriteFile(cfg, []byte("disable-rules: [github-pat]\n"), 0o600)
	req.SecretConfig = cfg
	withCfg := c.Key(req, at)
	_ = os.WriteFile(cfg, []byte("disable-rules: [aws-access-key-id]\n"), 0o600)
	changed := c.Key(req, at)
	if off == on || on == withCfg || withCfg == changed {
		t.Fatalf("keys: off %s, on %s, config %s, changed config %s", off, on, withCfg, changed)
	}
}
