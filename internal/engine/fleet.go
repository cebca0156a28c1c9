package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
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
	// Timeout bounds each request to the server (--timeout; 0: DefaultServerTimeout).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// DefaultServerTimeout is the default --timeout, Trivy's.
const DefaultServerTimeout = 5 * time.Minute

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
		// The URL first (its user information), then a password on its own; a user
		// name alone is not a secret, and replacing it everywhere garbles the message
		// ("WRONGPASS invalid ***name-password pair" for the user "user").
		msg = strings.ReplaceAll(msg, secret, MaskURL(secret))
		if p, ok := u.User.Password(); ok && len(p) >= 3 {
			msg = strings.ReplaceAll(msg, p, "***")
		}
		return msg
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
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(server, "?#") {
		return ServerOptions{}, "", fmt.Errorf("%s %s has a query string or fragment (not shown: it may hold a token): give http(s)://HOST:PORT, and the token with $%s or --token", from, shown, TokenEnv)
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
		got := resp.Status
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			got += " with " + strings.TrimSpace(strings.Split(ct, ";")[0])
		}
		if resp.StatusCode == http.StatusOK {
			got += ", not Trivy's version JSON"
		}
		return ServerOptions{}, "", fmt.Errorf("%s (%s) is not a Trivy server: GET /version answered %s: give the URL 'trivy server --listen' serves", shown, from, got)
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
	sent := headers.Clone()
	sent.Del(tokenMarker)
	return ServerOptions{URL: server, Headers: sent, DB: st}, info.Version, nil
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
		if !tokenGiven(headers) {
			return fmt.Errorf("the Trivy server %s wants a token and none was given: give the server's token with $%s (or --token)", shown, TokenEnv)
		}
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
		if k == tokenMarker {
			continue
		}
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
// ("Name: value" or "Name:value", as Trivy's) and the token under tokenHeader. A name or
// value no HTTP header may hold is an error naming the flag (never the token's value).
func ServerHeaders(custom []string, token, tokenHeader string) (http.Header, error) {
	h := http.Header{}
	for _, c := range custom {
		name, value, ok := strings.Cut(c, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("--custom-headers %q: give NAME:VALUE", name)
		}
		if !validHeaderName(name) {
			return nil, fmt.Errorf("--custom-headers: %q is not a valid HTTP header name (letters, digits and -, no spaces)", name)
		}
		if !validHeaderValue(value) {
			return nil, fmt.Errorf("--custom-headers: the value of %s holds a control character (a newline?), which no HTTP header may hold", name)
		}
		h.Add(name, value)
	}
	if token != "" {
		if tokenHeader == "" {
			tokenHeader = DefaultTokenHeader
		}
		if !validHeaderName(tokenHeader) {
			return nil, fmt.Errorf("--token-header %q is not a valid HTTP header name (letters, digits and -, no spaces)", tokenHeader)
		}
		if !validHeaderValue(token) {
			return nil, fmt.Errorf("the token ($%s or --token) holds a control character (a newline inside it?), which no HTTP header may hold: give the token alone", TokenEnv)
		}
		h.Set(tokenHeader, token)
		h.Set(tokenMarker, tokenHeader)
	}
	return h, nil
}

// tokenMarker, a header ServerHeaders sets beside the token and addHeaders never sends,
// names the token's header, so that a refusal can tell "no token" from "wrong token".
const tokenMarker = "X-Secscan-Token-Header"

func tokenGiven(h http.Header) bool { return h.Get(tokenMarker) != "" }

// validHeaderName reports whether s is an HTTP header name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 0x7e || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control character but tab.
func validHeaderValue(s string) bool {
	for _, c := range s {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// RedisScanCache keeps scan results in Redis, shared by every runner that uses the same
// backend: an image ID + DB + scan options that any runner scanned is neither exported
// nor scanned again. An entry that does not parse, or is not a scan of the image asked
// for, is ignored (the image is scanned again), never trusted.
//
// Whoever can write to Redis could otherwise decide what is pushed (a scan of the image
// rewritten with no findings passes the gate), so the entries are signed: an HMAC-SHA256
// over the key and the scan with a secret every runner has ($SECSCAN_CACHE_SECRET),
// checked before an entry is used. Without a secret, the scans in Redis are neither
// used nor written (the layer cache in Redis still is), unless the user trusts anyone
// who can write to Redis ($SECSCAN_CACHE_UNSIGNED=trust: unsigned entries, as before).
type RedisScanCache struct {
	client  *redis.Client
	backend CacheBackend
	secret  []byte
	// unsigned: no secret, and $SECSCAN_CACHE_UNSIGNED=trust.
	unsigned bool
}

// Environment of the scan cache in Redis: the shared secret that signs its entries, and
// the opt-in to unsigned entries.
const (
	CacheSecretEnv   = "SECSCAN_CACHE_SECRET"
	CacheUnsignedEnv = "SECSCAN_CACHE_UNSIGNED"
)

// minCacheSecret is the shortest secret accepted (e.g. 'openssl rand -hex 32' gives 64).
const minCacheSecret = 16

// CacheSigning reads $SECSCAN_CACHE_SECRET and $SECSCAN_CACHE_UNSIGNED: the secret
// (trailing newline trimmed), or unsigned true when the user opts into unsigned entries.
// A secret that is too short, or an opt-in value other than "trust", is an error; the
// secret is never part of a message.
func CacheSigning() (secret []byte, unsigned bool, err error) {
	sec := strings.TrimRight(os.Getenv(CacheSecretEnv), "\r\n")
	if sec != "" && len(sec) < minCacheSecret {
		return nil, false, fmt.Errorf("$%s is %d characters: give a secret of at least %d (e.g. 'openssl rand -hex 32'), the same on every runner", CacheSecretEnv, len(sec), minCacheSecret)
	}
	switch v := os.Getenv(CacheUnsignedEnv); v {
	case "":
	case "trust":
		unsigned = sec == ""
	default:
		return nil, false, fmt.Errorf("$%s=%q: the only value is trust (use the scans in Redis without a signature: whoever can write to Redis then decides what passes)", CacheUnsignedEnv, v)
	}
	if sec != "" {
		secret = []byte(sec)
	}
	return secret, unsigned, nil
}

// Shared reports whether the scans in Redis are used and written: with a secret, or
// with the opt-in to unsigned entries.
func (c *RedisScanCache) Shared() bool { return c != nil && (c.secret != nil || c.unsigned) }

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

// OpenRedis connects to the Redis backend and checks that it answers (PING). The scans
// kept there are signed with secret (see RedisScanCache); unsigned trusts unsigned ones.
func OpenRedis(ctx context.Context, b CacheBackend, secret []byte, unsigned bool) (*RedisScanCache, error) {
	opts, err := RedisOptions(b)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, RedisError(b, err)
	}
	return &RedisScanCache{client: c, backend: b, secret: secret, unsigned: unsigned && secret == nil}, nil
}

// RedisError words a failed Redis call: a password refused (WRONGPASS, NOAUTH) or a
// server that cannot be reached or does not answer in time.
func RedisError(b CacheBackend, err error) error {
	cause := redactErr(err, b.URL)
	if msg := err.Error(); strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOAUTH") || strings.Contains(msg, "invalid password") || strings.Contains(msg, "invalid username-password") {
		return RedisAuthError{Backend: b.Masked(), Cause: cause}
	}
	return RedisDownError{Backend: b.Masked(), Cause: cause}
}

// RedisAuthError is a Redis backend that refuses the password of its URL (or wants one).
type RedisAuthError struct{ Backend, Cause string }

func (e RedisAuthError) Error() string {
	return fmt.Sprintf("the Redis cache %s refused the password (%s): give the password Redis wants in the URL of --cache-backend or $%s (redis://:PASSWORD@HOST:PORT, or redis://USER:PASSWORD@... for an ACL user)", e.Backend, oneLine(e.Cause), CacheBackendEnv)
}

// RedisDownError is a Redis backend that cannot be reached (down, or refusing the connection).
type RedisDownError struct{ Backend, Cause string }

func (e RedisDownError) Error() string {
	return fmt.Sprintf("the Redis cache %s cannot be reached (%s): start it or fix --cache-backend (and --redis-ca, --redis-cert, --redis-key for TLS), or let the policy use the local cache meanwhile (scan.cache-fallback: local)", e.Backend, oneLine(e.Cause))
}

// Close closes the connection.
func (c *RedisScanCache) Close() error { return c.client.Close() }

// ErrBadSignature is an entry of the scan cache in Redis whose signature does not
// check out: written with another secret, unsigned, or altered.
var ErrBadSignature = errors.New("bad signature")

// signedEntry is a scan kept in Redis with its signature.
type signedEntry struct {
	Version int             `json:"v"`
	MAC     string          `json:"mac"` // hex HMAC-SHA256 of the key and Scan, see mac
	Scan    json.RawMessage `json:"scan"`
}

func (c *RedisScanCache) mac(key string, scan []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	fmt.Fprintf(m, "secscan scan cache v1\x00%s\x00", key)
	m.Write(scan)
	return m.Sum(nil)
}

// Get returns the scan of imageID cached under key; false when there is none, the scans
// in Redis are not used (Shared), or the entry does not parse, is not a scan of imageID,
// or its signature does not check out (then the error is ErrBadSignature).
func (c *RedisScanCache) Get(ctx context.Context, key, imageID string) (ScanResponse, bool, error) {
	if !c.Shared() {
		return ScanResponse{}, false, nil
	}
	b, err := c.client.Get(ctx, redisScanPrefix+key).Bytes()
	if err != nil {
		return ScanResponse{}, false, nil
	}
	if c.secret != nil {
		var e signedEntry
		if json.Unmarshal(b, &e) != nil || e.Version != 1 || len(e.Scan) == 0 {
			return ScanResponse{}, false, ErrBadSignature
		}
		want, err := hex.DecodeString(e.MAC)
		if err != nil || !hmac.Equal(want, c.mac(key, e.Scan)) {
			return ScanResponse{}, false, ErrBadSignature
		}
		b = e.Scan
	}
	r, ok := parseCachedScan(b, imageID)
	return r, ok, nil
}

// Put stores a scan under key, with the backend's TTL, signed with the secret (nothing
// is written when the scans in Redis are not used).
func (c *RedisScanCache) Put(ctx context.Context, key string, r ScanResponse) error {
	if !c.Shared() {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if c.secret != nil {
		if b, err = json.Marshal(signedEntry{Version: 1, MAC: hex.EncodeToString(c.mac(key, b)), Scan: b}); err != nil {
			return err
		}
	}
	if err := c.client.Set(ctx, redisScanPrefix+key, b, c.backend.TTL).Err(); err != nil {
		return fmt.Errorf("cannot keep the scan in the Redis cache %s (%s): the scan stands; check that Redis runs and has memory left (maxmemory)", c.backend.Masked(), oneLine(redactErr(err, c.backend.URL)))
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
