package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A fleet of runners (README, "Fleet"): scans through a Trivy server (Trivy's
// client/server mode: the runner analyses the layers it streams from its daemon, sends
// them to the server's cache and asks the server for the vulnerabilities; the runner
// needs no DB), and the analysed-layer cache and the scan-result cache in Redis (Trivy's
// Redis cache backend). The engine does both with Trivy's own packages (pkg/rpc/client,
// the remote cache, pkg/cache's Redis backend); this file holds what the plugin needs
// before it starts an engine: the server's DB and the token check, and the scan-result
// cache in Redis. None of it links Trivy.

// Environment variables of the fleet settings (the flags win; the policy's scan.server
// comes after $SECSCAN_SERVER). The token is best given through the environment: a
// flag's value is visible to other users in the process list.
const (
	ServerEnv       = "SECSCAN_SERVER"
	TokenEnv        = "SECSCAN_TOKEN"
	CacheBackendEnv = "SECSCAN_CACHE_BACKEND"
)

// DefaultTokenHeader is Trivy's default --token-header.
const DefaultTokenHeader = "Trivy-Token"

// ServerOptions make the engine scan through a Trivy server.
type ServerOptions struct {
	URL string `json:"url"`
	// Headers go with every request: --custom-headers, and the token under
	// --token-header.
	Headers http.Header `json:"headers,omitempty"`
	// DB is the server's vulnerability DB, as CheckServer read it: the scan reports it.
	DB DBStatus `json:"db"`
}

// CacheBackend is Trivy's --cache-backend when it is Redis: the engine keeps the
// analysed layers there (Trivy's Redis cache), the plugin its scan results.
type CacheBackend struct {
	URL  string        `json:"url"` // redis://[user:password@]host:port[/db], rediss:// for TLS
	CA   string        `json:"ca,omitempty"`
	Cert string        `json:"cert,omitempty"`
	Key  string        `json:"key,omitempty"`
	TTL  time.Duration `json:"ttl,omitempty"` // 0: entries do not expire
}

// TLS reports whether the connection uses TLS (rediss://, or a client certificate).
func (b CacheBackend) TLS() bool {
	return strings.HasPrefix(b.URL, "rediss://") || b.CA != ""
}

// Masked is the backend's URL without credentials, for messages.
func (b CacheBackend) Masked() string { return MaskURL(b.URL) }

// MaskURL removes the user information (a password, a token) from a URL, for messages:
// "redis://***@host:6379/0".
func MaskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if i := strings.Index(s, "://"); i >= 0 {
			if at := strings.LastIndex(s, "@"); at > i {
				return s[:i+3] + "***@" + s[at+1:]
			}
		}
		return s
	}
	masked := u.Scheme + "://"
	if u.User != nil {
		masked += "***@"
	}
	masked += u.Host + u.EscapedPath()
	return masked
}

// ParseCacheBackend checks a --cache-backend value: "fs" (or "") is the local cache
// folder, redis:// or rediss:// is Redis. from names the setting in errors.
func ParseCacheBackend(s, from string) (redisURL string, err error) {
	switch {
	case s == "" || s == "fs":
		return "", nil
	case strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://"):
		if _, err := redis.ParseURL(s); err != nil {
			return "", fmt.Errorf("%s %s is not a Redis URL (%v): give redis://HOST:PORT[/DB] or rediss://... for TLS", from, MaskURL(s), redactErr(err, s))
		}
		return s, nil
	default:
		return "", fmt.Errorf("%s %q is not a cache backend: give fs (the local cache folder) or redis://HOST:PORT[/DB] (rediss:// for TLS)", from, MaskURL(s))
	}
}

// RedactErr is err's message with the credentials of URL secret masked.
func RedactErr(err error, secret string) string { return redactErr(err, secret) }

// redactErr keeps secret out of err's message.
func redactErr(err error, secret string) string {
	msg := err.Error()
	if u, perr := url.Parse(secret); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "***")
		}
		if n := u.User.Username(); n != "" {
			msg = strings.ReplaceAll(msg, n, "***")
		}
	}
	return strings.ReplaceAll(msg, secret, MaskURL(secret))
}

// ServerVersionCompatible reports whether a Trivy server of version v can serve this
// engine (Trivy's client/server protocol and cache keys change between minor
// versions): the same major and minor version as TrivyVersion. A development build
// ("dev", as 'go install' builds it) does not say its version and is accepted.
func ServerVersionCompatible(v string) bool {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "dev" {
		return true
	}
	want := strings.Split(strings.TrimPrefix(TrivyVersion, "v"), ".")
	got := strings.Split(v, ".")
	return len(got) >= 2 && got[0] == want[0] && got[1] == want[1]
}

// serverTimeout bounds each request of CheckServer.
const serverTimeout = 30 * time.Second

// CheckServer asks the Trivy server at server for its version and vulnerability DB
// (Trivy's GET /version, which `trivy version --server` reads too) and checks that it
// accepts the token (headers): a server that is down, is not a Trivy server, runs an
// incompatible version, has no DB, or refuses the token is an error that says what to
// do. from names the setting ("--server", "$SECSCAN_SERVER", "FILE scan.server").
func CheckServer(ctx context.Context, server string, headers http.Header, from string) (ServerOptions, string, error) {
	shown := MaskURL(server)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ServerOptions{}, "", fmt.Errorf("%s %s is not a Trivy server URL: give http(s)://HOST:PORT, as for 'trivy image --server'", from, shown)
	}
	client := &http.Client{Timeout: serverTimeout}
	ctx, cancel := context.WithTimeout(ctx, 2*serverTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/version", http.NoBody)
	if err != nil {
		return ServerOptions{}, "", fmt.Errorf("%s %s: %v", from, shown, err)
	}
	addHeaders(req, headers)
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return ServerOptions{}, "", ctx.Err()
		}
		return ServerOptions{}, "", fmt.Errorf("the Trivy server %s (%s) does not answer (%s): start it ('trivy server'), or fix %s", shown, from, netCause(err), from)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var info struct {
		Version         string
		VulnerabilityDB *struct {
			Version                             int
			NextUpdate, UpdatedAt, DownloadedAt time.Time
		}
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &info) != nil || info.Version == "" {
		return ServerOptions{}, "", fmt.Errorf("%s (%s) is not a Trivy server: GET /version answered %s: give the URL 'trivy server --listen' serves", shown, from, resp.Status)
	}
	if !ServerVersionCompatible(info.Version) {
		return ServerOptions{}, "", fmt.Errorf("the Trivy server %s runs Trivy %s, which docker secscan (Trivy %s) cannot use: run a Trivy server %s.x", shown, info.Version, TrivyVersion, strings.Join(strings.Split(TrivyVersion, ".")[:2], "."))
	}
	if info.VulnerabilityDB == nil || info.VulnerabilityDB.Version == 0 {
		return ServerOptions{}, "", fmt.Errorf("the Trivy server %s has no vulnerability DB: start it with a DB ('trivy server --db-repository ...'), or wait for its download", shown)
	}
	if info.VulnerabilityDB.Version != DBSchemaVersion {
		return ServerOptions{}, "", fmt.Errorf("the Trivy server %s has a vulnerability DB of schema %d, not %d: update the server's DB", shown, info.VulnerabilityDB.Version, DBSchemaVersion)
	}
	if err := checkToken(ctx, client, server, headers, shown, from); err != nil {
		return ServerOptions{}, "", err
	}
	db := info.VulnerabilityDB
	st := DBStatus{Path: "", Source: "Trivy server " + shown}
	st.SchemaVersion, st.UpdatedAt, st.NextUpdate, st.DownloadedAt = db.Version, db.UpdatedAt, db.NextUpdate, db.DownloadedAt
	return ServerOptions{URL: server, Headers: headers, DB: st}, info.Version, nil
}

// checkToken makes one request that the server authenticates and that changes nothing:
// Trivy's cache service asked which of no layers it misses (the Twirp JSON form of
// the call Trivy's client makes first). A refused token answers 401 "unauthenticated".
func checkToken(ctx context.Context, client *http.Client, server string, headers http.Header, shown, from string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(server, "/")+"/twirp/trivy.cache.v1.Cache/MissingBlobs", bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	addHeaders(req, headers)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("the Trivy server %s (%s) does not answer (%s): start it ('trivy server'), or fix %s", shown, from, netCause(err), from)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var te struct{ Code, Msg string }
	_ = json.Unmarshal(body, &te)
	if resp.StatusCode == http.StatusUnauthorized || te.Code == "unauthenticated" {
		return fmt.Errorf("the Trivy server %s refused the token: give the server's token with --token or $%s (and --token-header when it is not %s)", shown, TokenEnv, DefaultTokenHeader)
	}
	msg := te.Msg
	if msg == "" {
		msg = resp.Status
	}
	return fmt.Errorf("the Trivy server %s failed a cache request (%s): check its log and its cache backend", shown, oneLine(msg))
}

func addHeaders(req *http.Request, headers http.Header) {
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

// netCause is the short cause of a failed connection ("connection refused").
func netCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return oneLine(op.Err.Error())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return oneLine(ue.Err.Error())
	}
	return oneLine(err.Error())
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ServerHeaders builds the headers of every request to the server: --custom-headers
// ("Name: value" or "Name:value", as Trivy's) and the token under tokenHeader.
func ServerHeaders(custom []string, token, tokenHeader string) (http.Header, error) {
	h := http.Header{}
	for _, c := range custom {
		name, value, ok := strings.Cut(c, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--custom-headers %q: give NAME:VALUE", strings.TrimSpace(name))
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if token != "" {
		if tokenHeader == "" {
			tokenHeader = DefaultTokenHeader
		}
		h.Set(tokenHeader, token)
	}
	return h, nil
}

// RedisScanCache keeps scan results in Redis, shared by every runner that uses the same
// backend: an image ID + DB + scan options that any runner scanned is neither exported
// nor scanned again. An entry that does not parse, or is not a scan of the image asked
// for, is ignored (the image is scanned again), never trusted.
type RedisScanCache struct {
	client  *redis.Client
	backend CacheBackend
}

// redisScanPrefix starts our keys, apart from Trivy's ("fanal::...").
const redisScanPrefix = "secscan::scan::"

// redisTimeout bounds the connection check of OpenRedis.
const redisTimeout = 5 * time.Second

// RedisOptions are go-redis's options for the backend: its URL, and the client
// certificate and CA when given (as Trivy's --redis-ca, --redis-cert, --redis-key).
func RedisOptions(b CacheBackend) (*redis.Options, error) {
	opts, err := redis.ParseURL(b.URL)
	if err != nil {
		return nil, fmt.Errorf("--cache-backend %s is not a Redis URL: %s", b.Masked(), redactErr(err, b.URL))
	}
	if b.CA != "" || b.Cert != "" || b.Key != "" {
		if b.CA == "" || b.Cert == "" || b.Key == "" {
			return nil, errors.New("--redis-ca, --redis-cert and --redis-key go together (as in Trivy): give all three, or none")
		}
		cert, err := tls.LoadX509KeyPair(b.Cert, b.Key)
		if err != nil {
			return nil, fmt.Errorf("--redis-cert %s / --redis-key %s: %v", b.Cert, b.Key, err)
		}
		ca, err := os.ReadFile(b.CA)
		if err != nil {
			return nil, fmt.Errorf("--redis-ca %s: %v", b.CA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("--redis-ca %s holds no PEM certificate", b.CA)
		}
		cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if host, _, err := net.SplitHostPort(opts.Addr); err == nil {
			cfg.ServerName = host
		}
		opts.TLSConfig = cfg
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisTimeout, 10*time.Second, 10*time.Second
	opts.MaxRetries = 1
	return opts, nil
}

// OpenRedis connects to the Redis backend and checks that it answers (PING).
func OpenRedis(ctx context.Context, b CacheBackend) (*RedisScanCache, error) {
	opts, err := RedisOptions(b)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, RedisDownError{Backend: b.Masked(), Cause: redactErr(err, b.URL)}
	}
	return &RedisScanCache{client: c, backend: b}, nil
}

// RedisDownError is a Redis backend that cannot be reached (down, or refusing the connection).
type RedisDownError struct{ Backend, Cause string }

func (e RedisDownError) Error() string {
	return fmt.Sprintf("the Redis cache %s cannot be reached (%s): start it or fix --cache-backend (and --redis-ca, --redis-cert, --redis-key for TLS), or let the policy use the local cache meanwhile (scan.cache-fallback: local)", e.Backend, oneLine(e.Cause))
}

// Close closes the connection.
func (c *RedisScanCache) Close() error { return c.client.Close() }

// Get returns the scan of imageID cached under key; false when there is none, or the
// entry does not parse or is not a scan of imageID.
func (c *RedisScanCache) Get(ctx context.Context, key, imageID string) (ScanResponse, bool) {
	b, err := c.client.Get(ctx, redisScanPrefix+key).Bytes()
	if err != nil {
		return ScanResponse{}, false
	}
	return parseCachedScan(b, imageID)
}

// Put stores a scan under key, with the backend's TTL.
func (c *RedisScanCache) Put(ctx context.Context, key string, r ScanResponse) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.client.Set(ctx, redisScanPrefix+key, b, c.backend.TTL).Err(); err != nil {
		return fmt.Errorf("cannot keep the scan in the Redis cache %s: %s", c.backend.Masked(), redactErr(err, c.backend.URL))
	}
	return nil
}

// parseCachedScan reads a cached scan: it must be a complete scan of imageID.
func parseCachedScan(b []byte, imageID string) (ScanResponse, bool) {
	var r ScanResponse
	if json.Unmarshal(b, &r) != nil || len(r.Trivy) < 2 || r.Trivy[0] != '{' || !json.Valid(r.Trivy) ||
		r.Scan.Scanner == "" || r.Scan.Image.ID == "" || r.Scan.FinishedAt.IsZero() {
		return ScanResponse{}, false
	}
	if imageID != "" && r.Scan.Image.ID != imageID {
		return ScanResponse{}, false
	}
	return r, true
}

// quietRedis drops go-redis's own log lines (a failed dial is printed on stderr before
// the error returns): what matters is said in the one-line error, and nothing go-redis
// prints can leak a backend's credentials.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedis{}) }
