package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-secscan/docker-secscan/internal/report"
	"github.com/docker-secscan/docker-secscan/internal/testenv"
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
		{"no token", good.URL, nil, "wants a token and none was given"},
		{"an HTML page", httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<html>hello</html>")
		})).URL, nil, "answered 200 OK with text/html, not Trivy's version JSON"},
		{"down", down, h, "does not answer"},
		{"old version", fakeTrivyServer(t, "0.50.1", true, "").URL, nil, "runs Trivy 0.50.1"},
		{"no DB", fakeTrivyServer(t, "0.74.0", false, "").URL, nil, "has no vulnerability DB"},
		{"not trivy", closed.URL, nil, "does not answer"},
		{"not a URL", "trivy:4954", nil, "is not a Trivy server URL"},
		{"a query", good.URL + "?token=" + token, nil, "has a query string"},
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

// TestServerHeadersNameWhatIsWrong: a header no HTTP request may carry is refused up
// front, naming the flag and never the token's value (net/http's own error, "invalid
// header field", read as a server that does not answer); the token's header is not
// sent beside it.
func TestServerHeadersNameWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		custom              []string
		token, header, want string
	}{
		{[]string{"X Team: a"}, "", "", `--custom-headers: "X Team" is not a valid HTTP header name`},
		{[]string{"X-Team: a\nb"}, "", "", "the value of X-Team holds a control character"},
		{nil, "tok\nen-secret", "", "the token ($SECSCAN_TOKEN or --token) holds a control character"},
		{nil, "token-secret", "Trivy Token", `--token-header "Trivy Token" is not a valid HTTP header name`},
	} {
		_, err := ServerHeaders(c.custom, c.token, c.header)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%v %q %q: got %v, want %q", c.custom, c.token, c.header, err, c.want)
		}
	}
	h, err := ServerHeaders([]string{"X-Team: a"}, "token-secret", "")
	if err != nil || h.Get(DefaultTokenHeader) != "token-secret" || !tokenGiven(h) {
		t.Fatalf("ServerHeaders: %v %v", h, err)
	}
	good := fakeTrivyServer(t, "0.74.0", true, "token-secret")
	srv, _, err := CheckServer(context.Background(), good.URL, h, "--server")
	if err != nil || srv.Headers.Get(tokenMarker) != "" || srv.Headers.Get("X-Team") != "a" {
		t.Fatalf("the headers sent to the server: %v %v", srv.Headers, err)
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
	_, err := OpenRedis(context.Background(), CacheBackend{URL: "redis://:hunter2@" + addr + "/0"}, nil, false)
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

// TestRedisScanCacheIsSigned: whoever can write to Redis must not decide what passes.
// With a secret, a scan read back is the scan written; an entry rewritten (no
// findings), unsigned, signed with another secret or moved under another key is not
// used. Without a secret the scans in Redis are neither read nor written, unless the
// user opts into unsigned entries. A password Redis refuses says so, without it.
func TestRedisScanCacheIsSigned(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil && os.Geteuid() != 0 {
		// As root, StartRedis installs it (as on a fresh CI machine): the test runs.
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	ctx := context.Background()
	rd, err := testenv.StartRedis(ctx, filepath.Join(t.TempDir(), "redis"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop()
	raw := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer raw.Close()
	b := CacheBackend{URL: rd.URL()}
	scan := ScanResponse{Scan: report.Scan{Image: report.Image{ID: "sha256:aa"}, Scanner: "trivy v0.74.0", FinishedAt: time.Now(),
		Findings: []report.Finding{{VulnerabilityID: "CVE-2019-14697", Severity: report.SeverityCritical}}}, Trivy: json.RawMessage(`{"SchemaVersion":2}`)}

	open := func(secret string, unsigned bool) *RedisScanCache {
		t.Helper()
		var sec []byte
		if secret != "" {
			sec = []byte(secret)
		}
		c, err := OpenRedis(ctx, b, sec, unsigned)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	const secret = "0123456789abcdef-shared"
	signed := open(secret, false)
	if err := signed.Put(ctx, "k1", scan); err != nil {
		t.Fatal(err)
	}
	got, ok, err := signed.Get(ctx, "k1", "sha256:aa")
	if !ok || err != nil || len(got.Scan.Findings) != 1 {
		t.Fatalf("a signed entry is not used: %v %v %+v", ok, err, got.Scan.Findings)
	}
	entry := raw.Get(ctx, redisScanPrefix+"k1").Val()
	if strings.Contains(entry, secret) {
		t.Fatal("the secret is in the entry")
	}
	// The trial's attack: the scan rewritten with no findings, its signature kept.
	var e signedEntry
	if err := json.Unmarshal([]byte(entry), &e); err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	json.Unmarshal(e.Scan, &s)
	s["scan"].(map[string]any)["findings"] = []any{}
	e.Scan, _ = json.Marshal(s)
	forged, _ := json.Marshal(e)
	unsignedScan, _ := json.Marshal(scan)
	for name, v := range map[string]string{"no findings": string(forged), "unsigned": string(unsignedScan), "garbage": "{"} {
		raw.Set(ctx, redisScanPrefix+"k1", v, 0)
		if _, ok, err := signed.Get(ctx, "k1", "sha256:aa"); ok || !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s entry: used %v, error %v", name, ok, err)
		}
	}
	// Another secret; the right entry under another key.
	raw.Set(ctx, redisScanPrefix+"k1", entry, 0)
	if _, ok, err := open("another-secret-0123456", false).Get(ctx, "k1", "sha256:aa"); ok || !errors.Is(err, ErrBadSignature) {
		t.Errorf("an entry signed with another secret is used: %v", err)
	}
	raw.Set(ctx, redisScanPrefix+"k2", entry, 0)
	if _, ok, _ := signed.Get(ctx, "k2", "sha256:aa"); ok {
		t.Error("an entry moved under another key is used")
	}
	// No secret: nothing read or written.
	none := open("", false)
	if none.Shared() {
		t.Fatal("scans in Redis are shared without a secret")
	}
	if _, ok, _ := none.Get(ctx, "k1", "sha256:aa"); ok {
		t.Error("an entry is used without a secret")
	}
	none.Put(ctx, "k3", scan)
	if raw.Exists(ctx, redisScanPrefix+"k3").Val() != 0 {
		t.Error("an unsigned entry was written without a secret")
	}
	// The explicit opt-in: unsigned entries, as before.
	trust := open("", true)
	trust.Put(ctx, "k4", scan)
	if _, ok, err := trust.Get(ctx, "k4", "sha256:aa"); !ok || err != nil {
		t.Errorf("unsigned entries with the opt-in: %v %v", ok, err)
	}

	// The environment: a newline trimmed, a short secret and an unknown opt-in refused.
	t.Setenv(CacheSecretEnv, secret+"\n")
	t.Setenv(CacheUnsignedEnv, "")
	if sec, _, err := CacheSigning(); err != nil || string(sec) != secret {
		t.Errorf("CacheSigning with a trailing newline: %q %v", sec, err)
	}
	t.Setenv(CacheSecretEnv, "short")
	if _, _, err := CacheSigning(); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("a short secret: %v", err)
	}
	t.Setenv(CacheSecretEnv, "")
	t.Setenv(CacheUnsignedEnv, "yes")
	if _, _, err := CacheSigning(); err == nil {
		t.Error("an unknown opt-in value is accepted")
	}

	// A password Redis refuses, or none given to a Redis that wants one.
	if err := raw.ConfigSet(ctx, "requirepass", "the-redis-pw-5e1").Err(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"redis://" + rd.Addr, "redis://:wrong-pw-77@" + rd.Addr, "redis://user:wrong-pw-77@" + rd.Addr} {
		_, err := OpenRedis(ctx, CacheBackend{URL: u}, nil, false)
		var auth RedisAuthError
		if !errors.As(err, &auth) || !strings.Contains(err.Error(), "refused the password") || strings.Contains(err.Error(), "wrong-pw-77") {
			t.Errorf("%s: %v", MaskURL(u), err)
		}
		if strings.Contains(u, "user:") && !strings.Contains(err.Error(), "username-password pair") {
			t.Errorf("Redis's own words are masked beyond the URL's user information: %v", err)
		}
	}
}
