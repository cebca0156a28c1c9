package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
)

// fleetOptions are the flags of a fleet of runners (README, "Fleet"): a Trivy server
// (Trivy's client/server mode) and a Redis cache backend, with Trivy's flag names.
type fleetOptions struct {
	server        string
	token         string
	tokenHeader   string
	customHeaders []string
	cacheBackend  string
	redisCA       string
	redisCert     string
	redisKey      string
	cacheTTL      time.Duration
	timeout       time.Duration

	// Set by resolve: where server and cacheBackend came from, and the policy's
	// scan.cache-fallback.
	serverFrom, backendFrom string
	fallback                string
}

func (o *fleetOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.server, "server", "", "Scan through this Trivy server (v0.74), as 'trivy image --server': no DB on this machine (default $"+engine.ServerEnv+", then scan.server in the policy)")
	fs.StringVar(&o.token, "token", "", "Token for the Trivy server (default $"+engine.TokenEnv+"; prefer the variable: flags show in the process list)")
	fs.StringVar(&o.tokenHeader, "token-header", engine.DefaultTokenHeader, "Header the token is sent in")
	fs.StringArrayVar(&o.customHeaders, "custom-headers", nil, "Header for the Trivy server, NAME:VALUE (repeatable)")
	fs.StringVar(&o.cacheBackend, "cache-backend", "", "Cache backend: fs (the --cache-dir folder) or redis://[:PASSWORD@]HOST:PORT[/DB] (rediss:// for TLS) for the analysed layers and the scan results, shared by every runner (default $"+engine.CacheBackendEnv+", then scan.cache-backend in the policy, then fs)")
	fs.StringVar(&o.redisCA, "redis-ca", "", "CA certificate of the Redis server (with --redis-cert and --redis-key)")
	fs.StringVar(&o.redisCert, "redis-cert", "", "Client certificate for Redis")
	fs.StringVar(&o.redisKey, "redis-key", "", "Client key for Redis")
	fs.DurationVar(&o.cacheTTL, "cache-ttl", 0, "How long Redis keeps cache entries (e.g. 72h; 0: no expiry)")
	fs.DurationVar(&o.timeout, "timeout", engine.DefaultServerTimeout, "How long to wait for each answer of the Trivy server (Trivy's --timeout)")
}

// setting is a value in the settings' order: the flag when given (flagSet; its value
// and name), else $env when set, else the policy's value (from names its key), else
// the flag's default. It returns the value and where it came from.
func setting(flagSet bool, flagValue, flag, env, policyValue, policyFrom string) (string, string) {
	switch {
	case flagSet:
	case os.Getenv(env) != "":
		return os.Getenv(env), "$" + env
	case policyValue != "":
		return policyValue, policyFrom
	}
	return flagValue, flag
}

// resolve applies the fleet settings in their order: flags, then the environment
// ($SECSCAN_SERVER, $SECSCAN_TOKEN, $SECSCAN_CACHE_BACKEND), then the policy's scan
// section, and checks them (without touching the network).
func (o *fleetOptions) resolve(fl *pflag.FlagSet, p policy.Policy, policyPath string) error {
	changed := func(name string) bool { return fl != nil && fl.Changed(name) }
	o.server, o.serverFrom = setting(changed("server"), o.server, "--server", engine.ServerEnv, p.Server, policyPath+" scan.server")
	o.server = strings.TrimSpace(o.server)
	if !changed("token") && o.token == "" {
		o.token = os.Getenv(engine.TokenEnv)
	}
	// A token read from a file ($(cat token)) or a secret store often ends in a newline,
	// which no HTTP header may hold.
	o.token = strings.TrimRight(o.token, "\r\n")
	o.cacheBackend, o.backendFrom = setting(changed("cache-backend"), o.cacheBackend, "--cache-backend", engine.CacheBackendEnv, p.CacheBackend, policyPath+" scan.cache-backend")
	o.fallback = p.CacheFallback
	if _, err := engine.ParseCacheBackend(strings.TrimSpace(o.cacheBackend), o.backendFrom); err != nil {
		return err
	}
	if o.cacheTTL < 0 {
		return fmt.Errorf("--cache-ttl %s is negative: give a duration such as 72h, or 0 for no expiry", o.cacheTTL)
	}
	if o.cacheTTL > 0 && o.backend() == nil {
		return fmt.Errorf("--cache-ttl is for a Redis cache backend (--cache-backend redis://...): the cache folder is pruned by last use instead")
	}
	switch {
	case o.timeout < 0:
		return fmt.Errorf("--timeout %s is negative: give a duration such as 5m", o.timeout)
	case o.timeout == 0:
		o.timeout = engine.DefaultServerTimeout
	}
	if (o.redisCA != "" || o.redisCert != "" || o.redisKey != "") && (o.redisCA == "" || o.redisCert == "" || o.redisKey == "") {
		return errors.New("--redis-ca, --redis-cert and --redis-key go together (as in Trivy): give all three, or none")
	}
	if o.server == "" {
		if o.token != "" && changed("token") {
			return errors.New("--token is for a Trivy server: give --server URL too (or $" + engine.ServerEnv + ")")
		}
		return nil
	}
	if _, err := engine.ServerHeaders(o.customHeaders, o.token, o.tokenHeader); err != nil {
		return err
	}
	return nil
}

// backend is the Redis backend, nil for the cache folder.
func (o *fleetOptions) backend() *engine.CacheBackend {
	u, _ := engine.ParseCacheBackend(strings.TrimSpace(o.cacheBackend), o.backendFrom)
	if u == "" {
		return nil
	}
	return &engine.CacheBackend{URL: u, CA: o.redisCA, Cert: o.redisCert, Key: o.redisKey, TTL: o.cacheTTL}
}

// fleet is what a scan uses of the fleet settings, prepared: the server checked, Redis
// connected.
type fleet struct {
	server *engine.ServerOptions  // nil: scan with the local DB
	layers *engine.CacheBackend   // Redis for the engine: its layer cache (without a server) and layer claims
	redis  *engine.RedisScanCache // Redis for scan results (nil: cache folder)
	dir    engine.ScanCache       // the cache folder's scans
	stderr io.Writer
}

// prepare checks the Trivy server (its DB, version and token) and connects to Redis.
// A server that fails is a scanError (on-scan-error decides); Redis that does not
// answer is an error, unless the policy's scan.cache-fallback is local: then the cache
// folder stands in, with a note.
func (o *fleetOptions) prepare(ctx context.Context, stderr io.Writer, scansDir string) (*fleet, error) {
	f := &fleet{dir: engine.ScanCache{Dir: scansDir}, stderr: stderr}
	if b := o.backend(); b != nil {
		secret, unsigned, err := engine.CacheSigning()
		if err != nil {
			return nil, err
		}
		rc, err := engine.OpenRedis(ctx, *b, secret, unsigned)
		var down engine.RedisDownError
		switch {
		case errors.As(err, &down) && o.fallback == policy.CacheFallbackLocal:
			also := ""
			if o.server != "" {
				also = " (for this runner only: the Trivy server uses its own Redis, and fails the scan when that is down)"
			}
			fmt.Fprintf(stderr, "note: %s; the policy says scan.cache-fallback: local, so this scan uses the cache folder%s\n", strings.SplitN(down.Error(), ": start it", 2)[0], also)
		case err != nil:
			return nil, err
		case !rc.Shared():
			// Trivy's layer cache and the claims are in Redis; the scans stay in the cache
			// folder: an unsigned scan in Redis would let whoever can write there decide.
			_ = rc.Close()
			f.layers = b
			fmt.Fprintf(stderr, "note: the scans in the Redis cache are not shared: $%s is not set (the same secret on every runner signs them); the layers analysed are shared\n", engine.CacheSecretEnv)
		default:
			f.redis, f.layers = rc, b
		}
	}
	if o.server != "" {
		headers, err := engine.ServerHeaders(o.customHeaders, o.token, o.tokenHeader)
		if err != nil {
			f.close()
			return nil, err
		}
		srv, version, err := engine.CheckServer(ctx, o.server, headers, o.serverFrom)
		if err != nil {
			f.close()
			return nil, scanError{err}
		}
		srv.Timeout = o.timeout
		f.server = &srv
		fmt.Fprintf(stderr, "Scanning through the Trivy server %s (Trivy %s, DB updated at %s)\n", engine.MaskURL(srv.URL), version, srv.DB.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return f, nil
}

func (f *fleet) close() {
	if f.redis != nil {
		_ = f.redis.Close()
	}
}

// db is the DB the scan will use, for the scan cache key: the server's, else the cached
// DB when a scan would use it as it is.
func (f *fleet) db(o *dbOptions, now time.Time) (time.Time, bool) {
	if f.server != nil {
		return f.server.DB.UpdatedAt, true
	}
	st, current := engine.LocalDB(o.cacheDir, o.skipUpdate, now)
	return st.UpdatedAt, current
}

// get returns the cached scan of imageID under key: from Redis when it is the backend
// (every runner's scans), else from the cache folder. An entry that does not parse, or
// is not a scan of imageID, is not used.
func (f *fleet) get(ctx context.Context, key, imageID string) (engine.ScanResponse, bool) {
	if f.redis != nil {
		r, ok, err := f.redis.Get(ctx, key, imageID)
		if errors.Is(err, engine.ErrBadSignature) {
			fmt.Fprintf(f.stderr, "WARNING: the scan of %s in the Redis cache is not signed with $%s (another secret, an older docker secscan, or an altered entry): not used, the image is scanned\n", shortID(imageID), engine.CacheSecretEnv)
		}
		return r, ok
	}
	r, ok := f.dir.Get(key)
	if !ok || r.Scan.Image.ID != imageID {
		return engine.ScanResponse{}, false
	}
	return r, true
}

// put keeps a scan: in Redis (a failure is a warning: the scan stands), else in the
// cache folder.
func (f *fleet) put(ctx context.Context, key string, r engine.ScanResponse) {
	if f.redis != nil {
		if err := f.redis.Put(ctx, key, r); err != nil {
			fmt.Fprintf(f.stderr, "WARNING: %v\n", err)
		}
		return
	}
	f.dir.Put(key, r)
}

// where names the scan cache in messages.
func (f *fleet) where() string {
	if f.redis != nil {
		return "the Redis cache"
	}
	return "the cache"
}

// addServerFlags adds the Trivy server flags only (db status).
func (o *fleetOptions) addServerFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.server, "server", "", "Show the DB of this Trivy server (default $"+engine.ServerEnv+", then scan.server in the policy)")
	fs.StringVar(&o.token, "token", "", "Token for the Trivy server (default $"+engine.TokenEnv+")")
	fs.StringVar(&o.tokenHeader, "token-header", engine.DefaultTokenHeader, "Header the token is sent in")
	fs.StringArrayVar(&o.customHeaders, "custom-headers", nil, "Header for the Trivy server, NAME:VALUE (repeatable)")
}

// serverDBStatus is the DB of the Trivy server that --server, $SECSCAN_SERVER or the
// policy's scan.server names (nil when none does), checked as a scan checks it.
func serverDBStatus(cmd *cobra.Command, o *fleetOptions, policyFile string) (*engine.DBStatus, error) {
	pol, polPath, err := loadDBPolicy(policyFile)
	if err != nil {
		return nil, err
	}
	if err := o.resolve(cmd.Flags(), pol, polPath); err != nil {
		return nil, err
	}
	if o.server == "" {
		return nil, nil
	}
	headers, err := engine.ServerHeaders(o.customHeaders, o.token, o.tokenHeader)
	if err != nil {
		return nil, err
	}
	srv, version, err := engine.CheckServer(cmd.Context(), o.server, headers, o.serverFrom)
	if err != nil {
		return nil, err
	}
	st := srv.DB
	st.Source += " (Trivy " + version + ")"
	return &st, nil
}
