package policy

import (
	"net/url"
	"strings"
)

// CacheFallbackLocal is scan.cache-fallback: local: when the Redis cache does not
// answer, scan with the local cache folder (with a note) instead of failing.
const CacheFallbackLocal = "local"

// scanSettings checks the scan section: scan.server is an http(s) URL, scan.cache-backend
// fs or a Redis URL, scan.cache-fallback local or none. Credentials in a URL are never
// repeated in a message.
func (v *validator) scanSettings(server, backend, fallback string) (string, string, string) {
	server, backend, fallback = strings.TrimSpace(server), strings.TrimSpace(backend), strings.TrimSpace(fallback)
	if server != "" {
		u, err := url.Parse(server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("scan.server", "%s is not a Trivy server URL: give http(s)://HOST:PORT", maskURL(server))
		} else if u.User != nil {
			v.fail("scan.server", "%s holds credentials: give the token with --token or $SECSCAN_TOKEN, never in the policy file", maskURL(server))
		} else if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(server, "?#") {
			// A Trivy server URL has no query; one here is most likely a token.
			v.fail("scan.server", "%s has a query string or fragment (not shown: it may hold a token): give http(s)://HOST:PORT, and the token with --token or $SECSCAN_TOKEN", maskURL(server))
		}
	}
	switch {
	case backend == "" || backend == "fs":
	case strings.HasPrefix(backend, "redis://") || strings.HasPrefix(backend, "rediss://"):
		if u, err := url.Parse(backend); err != nil || u.Host == "" {
			v.fail("scan.cache-backend", "%s is not a Redis URL: give redis://HOST:PORT[/DB] (rediss:// for TLS)", maskURL(backend))
		} else if _, set := u.User.Password(); set {
			v.fail("scan.cache-backend", "%s holds a password: give it in $SECSCAN_CACHE_BACKEND or --cache-backend, never in the policy file", maskURL(backend))
		}
	default:
		v.fail("scan.cache-backend", "%q is not a cache backend: give fs or redis://HOST:PORT[/DB] (rediss:// for TLS)", maskURL(backend))
	}
	switch strings.ToLower(fallback) {
	case "", "none":
		fallback = ""
	case CacheFallbackLocal:
		fallback = CacheFallbackLocal
	default:
		v.fail("scan.cache-fallback", "%q: use local (scan with the cache folder when the Redis cache does not answer) or none (the default: an error)", fallback)
	}
	return server, backend, fallback
}

// maskURL hides the user information, the query and the fragment of a URL.
func maskURL(s string) string {
	if q := strings.IndexAny(s, "?#"); q >= 0 {
		s = s[:q]
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	if at := strings.LastIndex(s, "@"); at > i {
		return s[:i+3] + "***@" + s[at+1:]
	}
	return s
}
