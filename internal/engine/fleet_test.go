package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// fakeTrivyServer answers as `trivy server --token T` does: GET /version (no token
// needed) and Trivy's cache service (401 without the token).
func fakeTrivyServer(t *testing.T, version string, withDB bool, token string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		info := map[string]any{"Version": version}
		if withDB {
			info["VulnerabilityDB"] = map[string]any{"Version": 2, "UpdatedAt": "2026-11-29T06:00:00Z", "NextUpdate": "2026-11-30T06:00:00Z", "DownloadedAt": "2026-11-29T07:00:00Z"}
		}
		_ = json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("/twirp/trivy.cache.v1.Cache/MissingBlobs", func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get(DefaultTokenHeader) != token {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"unauthenticated","msg":"invalid token"}`)
			return
		}
		fmt.Fprint(w, `{"missing_artifact":true}`)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestCheckServer(t *testing.T) {
	ctx := context.Background()
	const token = "s3cr3t-token-value"
	good := fakeTrivyServer(t, "0.74.0", true, token)
	h, err := ServerHeaders([]string{"X-Team: platform"}, token, "")
	if err != nil {
		t.Fatal(err)
	}
	srv, v, err := CheckServer(ctx, good.URL, h, "--server")
	if err != nil || v != "0.74.0" || srv.DB.SchemaVersion != 2 || !srv.DB.UpdatedAt.Equal(time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)) || !strings.HasPrefix(srv.DB.Source, "Trivy server http://") {
		t.Fatalf("CheckServer = %+v, %q, %v", srv, v, err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + l.Addr().String()
	l.Close()
	bad, _ := ServerHeaders(nil, "wrong", "")
	for _, c := range []struct {
		name, url string
		headers   http.Header
		want      string
	}{
		{"wrong token", good.URL, bad, "refused the token"},
		{"no token", good.URL, nil, "refused the token"},
		{"down", down, h, "does not answer"},
		{"old version", fakeTrivyServer(t, "0.50.1", true, "").URL, nil, "runs Trivy 0.50.1"},
		{"no DB", fakeTrivyServer(t, "0.74.0", false, "").URL, nil, "has no vulnerability DB"},
		{"not trivy", closed.URL, nil, "does not answer"},
		{"not a URL", "trivy:4954", nil, "is not a Trivy server URL"},
		{"not trivy at all", httptest.NewServer(http.NotFoundHandler()).URL, nil, "is not a Trivy server"},
	} {
		_, _, err := CheckServer(ctx, c.url, c.headers, "--server")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "wrong") {
			t.Errorf("%s: the error is not one line or shows the token: %v", c.name, err)
		}
	}
}

func TestServerVersionCompatible(t *testing.T) {
	for v, want := range map[string]bool{"0.74.0": true, "v0.74.3": true, "dev": true, "0.73.9": false, "0.75.0": false, "1.74.0": false, "": false} {
		if got := ServerVersionCompatible(v); got != want {
			t.Errorf("ServerVersionCompatible(%q) = %v", v, got)
		}
	}
}

func TestMaskURLAndBackends(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:hunter2@redis.internal:6379/1":   "redis://***@redis.internal:6379/1",
		"rediss://user:hunter2@10.0.0.1:6380":      "rediss://***@10.0.0.1:6380",
		"http://trivy.internal:4954":               "http://trivy.internal:4954",
		"redis://user:p%zz@host:1":                 "redis://***@host:1",
		"http://tok:hunter2@trivy.internal/prefix": "http://***@trivy.internal/prefix",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
	if u, err := ParseCacheBackend("fs", "--cache-backend"); err != nil || u != "" {
		t.Errorf("fs: %q %v", u, err)
	}
	if u, err := ParseCacheBackend("redis://127.0.0.1:6379/3", "--cache-backend"); err != nil || u == "" {
		t.Errorf("redis: %q %v", u, err)
	}
	for _, bad := range []string{"memcached://:hunter2@x", "redis://:hunter2@host:notaport/x/y"} {
		_, err := ParseCacheBackend(bad, "--cache-backend")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseCacheBackend(%q) = %v: want an error without the password", bad, err)
		}
	}
	e := RedisDownError{Backend: MaskURL("redis://:hunter2@127.0.0.1:1"), Cause: "dial tcp 127.0.0.1:1: connect: connection refused"}
	if strings.Contains(e.Error(), "hunter2") || !strings.Contains(e.Error(), "scan.cache-fallback: local") {
		t.Errorf("RedisDownError: %v", e)
	}
}

func TestOpenRedisDownNamesBackendWithoutPassword(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := OpenRedis(context.Background(), CacheBackend{URL: "redis://:hunter2@" + addr + "/0"})
	var down RedisDownError
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "hunter2") || !errorsAs(err, &down) {
		t.Fatalf("OpenRedis on a closed port: %v", err)
	}
}

func errorsAs(err error, target *RedisDownError) bool {
	d, ok := err.(RedisDownError)
	if ok {
		*target = d
	}
	return ok
}

func TestCachedScanThatDoesNotParseIsNotTrusted(t *testing.T) {
	good := ScanResponse{Scan: report.Scan{Image: report.Image{ID: "sha256:aa"}, Scanner: "trivy v0.74.0", FinishedAt: time.Now()}, Trivy: json.RawMessage(`{"SchemaVersion":2}`)}
	b, _ := json.Marshal(good)
	if _, ok := parseCachedScan(b, "sha256:aa"); !ok {
		t.Fatal("a good entry is not used")
	}
	if _, ok := parseCachedScan(b, "sha256:bb"); ok {
		t.Error("a scan of another image is used")
	}
	for _, bad := range [][]byte{b[:len(b)/2], []byte("garbage"), []byte(`{"scan":{"image":{"id":"sha256:aa"},"scanner":"x"},"trivy":{}}`), []byte(`{}`)} {
		if _, ok := parseCachedScan(bad, "sha256:aa"); ok {
			t.Errorf("entry %q is trusted", bad)
		}
	}
}
