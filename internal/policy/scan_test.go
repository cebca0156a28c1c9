package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScanSettings(t *testing.T) {
	load := func(body string) (Policy, error) {
		path := filepath.Join(t.TempDir(), ".secscan.yaml")
		if err := os.WriteFile(path, []byte("version: 1\nscan:\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(path, time.Now())
	}
	p, err := load("  server: http://trivy.internal:4954\n  cache-backend: redis://redis.internal:6379/2\n  cache-fallback: local\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Server != "http://trivy.internal:4954" || p.CacheBackend != "redis://redis.internal:6379/2" || p.CacheFallback != CacheFallbackLocal {
		t.Fatalf("got %q %q %q", p.Server, p.CacheBackend, p.CacheFallback)
	}
	for _, c := range []struct{ body, want string }{
		{"  server: trivy.internal:4954\n", "scan.server"},
		{"  server: http://user:hunter2@trivy.internal\n", "scan.server"},
		{"  server: http://trivy.internal:4954?token=hunter2\n", "has a query string"},
		{"  server: http://trivy.internal:4954/#hunter2\n", "has a query string"},
		{"  cache-backend: memcached://x\n", "scan.cache-backend"},
		{"  cache-backend: redis://:hunter2@redis.internal:6379\n", "scan.cache-backend"},
		{"  cache-fallback: remote\n", "scan.cache-fallback"},
	} {
		_, err := load(c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error about %s", c.body, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", c.body, err)
		}
	}
}
