// Package scanner is docker-secscan's only door to Trivy: it opens Trivy's vulnerability
// DB and layer cache, scans an image archive with Trivy's image artifact, converts
// Trivy's report into package report's types, and writes reports with Trivy's own
// writers (table, JSON, SARIF, CycloneDX). No other package imports Trivy, so a Trivy
// upgrade touches this folder only.
package scanner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	dbTypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy/pkg/cache"
	trivydbpkg "github.com/aquasecurity/trivy/pkg/db"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/applier"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	artimage "github.com/aquasecurity/trivy/pkg/fanal/artifact/image"
	imgname "github.com/aquasecurity/trivy/pkg/fanal/image/name"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/iac/rego"
	"github.com/aquasecurity/trivy/pkg/javadb"
	"github.com/aquasecurity/trivy/pkg/log"
	"github.com/aquasecurity/trivy/pkg/misconf"
	trivyreport "github.com/aquasecurity/trivy/pkg/report"
	"github.com/aquasecurity/trivy/pkg/report/cyclonedx"
	"github.com/aquasecurity/trivy/pkg/report/predicate"
	"github.com/aquasecurity/trivy/pkg/result"
	"github.com/aquasecurity/trivy/pkg/rpc/client"
	"github.com/aquasecurity/trivy/pkg/scan"
	"github.com/aquasecurity/trivy/pkg/scan/langpkg"
	"github.com/aquasecurity/trivy/pkg/scan/local"
	"github.com/aquasecurity/trivy/pkg/scan/ospkg"
	"github.com/aquasecurity/trivy/pkg/types"
	"github.com/aquasecurity/trivy/pkg/vulnerability"
	xos "github.com/aquasecurity/trivy/pkg/x/os"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/twitchtv/twirp"

	"github.com/docker-secscan/docker-secscan/internal/dockerarchive"
	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/filelock"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// TrivyVersion is the Trivy library version this build links (see go.mod).
const TrivyVersion = engine.TrivyVersion

// InitLogging routes Trivy's process-wide logger: Trivy's debug log on stderr when
// debug is set, nothing when quiet; otherwise Trivy's log lines never reach the user in
// Trivy's format: what they say that matters is said in our own words (an end-of-life
// OS release is a policy note), and any other warning is one "note:" line on stderr
// (noteHandler). Trivy buffers log records in memory until this runs, so call it
// before any other function of this package.
func InitLogging(debug, quiet bool) {
	if debug || quiet {
		log.InitLogger(debug, quiet)
		return
	}
	initNoteLogging(newNoteHandler(os.Stderr))
}

// Cleanup removes the temporary folders Trivy made in this process. Call it on every
// exit path (Trivy's xos.Cleanup).
func Cleanup() { _ = xos.Cleanup() }

// Options configure a Scanner.
type Options struct {
	DB DBOptions
	// Parallel is the number of layers analysed at once (Trivy's --parallel; 0 = 5).
	Parallel int
	// NoProgress hides Trivy's layer progress bar.
	NoProgress bool
	// OnWait is called when another process holds the layer cache and this one waits.
	OnWait func()
	// BestPractices also runs Trivy's image-configuration checks (the Dockerfile checks
	// on the history-derived Dockerfile, and secrets in the config), reported as
	// best-practice findings with Dockle IDs where one exists.
	BestPractices bool
	// Secrets also runs Trivy's secret scanner on every file of every layer analysed
	// (`trivy image --scanners vuln,secret`), with the rules of Trivy's secret-config
	// file SecretConfig (absolute; "" or a missing file: Trivy's built-in rules). The
	// secret analyser is part of the layer cache key, so layers analysed without it
	// are analysed again once.
	Secrets      bool
	SecretConfig string
	// Server scans through a Trivy server, as `trivy image --server` does (see
	// openRemote): no DB here.
	Server *engine.ServerOptions
	// Cache keeps the analysed layers in Redis (Trivy's Redis cache backend) instead of
	// CacheDir/fanal; ignored with Server.
	Cache *engine.CacheBackend
}

// Scanner scans images against one opened vulnerability DB. Trivy keeps the DB in a
// process-wide handle, so open at most one Scanner per process.
type Scanner struct {
	opts Options
	db   DBStatus
	// cache is where analysed layers go: the cache folder, Redis, or the Trivy
	// server's cache (Trivy's remote cache); local reads them back for a local scan
	// (nil through a server, which reads its own).
	cache  cache.ArtifactCache
	local  cache.LocalArtifactCache
	close  func()
	unlock func()
	// claims coordinate the analysis of layers with other runners (claims.go).
	claims *layerClaims
}

// Open makes sure a DB is available (downloading it if needed, see EnsureDB), opens it,
// and opens the layer cache in opts.DB.CacheDir/fanal.
func Open(ctx context.Context, opts Options) (*Scanner, error) {
	if opts.Server != nil {
		return openRemote(ctx, opts)
	}
	st, err := EnsureDB(ctx, opts.DB, false)
	if err != nil {
		return nil, err
	}
	if err := trivydbpkg.Init(trivydbpkg.Dir(opts.DB.CacheDir)); err != nil {
		return nil, fmt.Errorf("open the vulnerability DB in %s: %v (run 'docker secscan db update')", opts.DB.CacheDir, rootCause(err))
	}
	javaRepos, javaSkip, err := javaDBRepositories(opts.DB)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	// The Java DB is downloaded lazily, only when an image holds a .jar (as in Trivy).
	javadb.Init(opts.DB.CacheDir, javaRepos, opts.DB.SkipUpdate || javaSkip, opts.DB.NoProgress, ftypes.RegistryOptions{Insecure: opts.DB.Insecure})

	if opts.Cache != nil {
		// Trivy's Redis cache (`trivy image --cache-backend redis://...`): shared by
		// every runner, no lock to take.
		rc, err := cache.NewRedisCache(opts.Cache.URL, opts.Cache.CA, opts.Cache.Cert, opts.Cache.Key, false, opts.Cache.TTL)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open the Redis cache %s: %v", opts.Cache.Masked(), rootCause(err))
		}
		return &Scanner{opts: opts, db: st, cache: rc, local: rc, close: func() { _ = rc.Close() }, unlock: func() {}, claims: openClaims(ctx, opts.Cache)}, nil
	}
	// Trivy's layer cache is a BoltDB file that one process at a time may open (with a
	// 5 s timeout); scans sharing a cache folder take turns instead of failing.
	unlock, err := filelock.LockContext(ctx, filepath.Join(opts.DB.CacheDir, "fanal.lock"), opts.OnWait)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	c, cleanup, err := cache.New(cache.Options{Backend: "fs", CacheDir: opts.DB.CacheDir})
	if err != nil {
		unlock()
		_ = db.Close()
		if diskFull(err) {
			return nil, fmt.Errorf("open the layer cache in %s: no space left on its device: free some space or use --cache-dir on another disk", opts.DB.CacheDir)
		}
		return nil, fmt.Errorf("open the layer cache in %s: %v (if it is damaged, remove %s)", opts.DB.CacheDir, rootCause(err), filepath.Join(opts.DB.CacheDir, "fanal"))
	}
	return &Scanner{opts: opts, db: st, cache: c, local: c, close: cleanup, unlock: unlock}, nil
}

// openRemote prepares a scan through a Trivy server, as `trivy image --server` wires it
// (pkg/commands/artifact.createRemoteService): the layers are analysed here and sent to
// the server's cache through Trivy's remote cache, and the Scan RPC of Trivy's client
// asks the server for the vulnerabilities. The DB is the server's (opts.Server.DB, as
// the plugin read it from the server): none is downloaded or opened here. The Java DB,
// which the jar analyser needs on the client side, is still fetched here when an image
// holds .jar files (as Trivy's client does).
func openRemote(ctx context.Context, opts Options) (*Scanner, error) {
	javaRepos, javaSkip, err := javaDBRepositories(opts.DB)
	if err != nil {
		return nil, err
	}
	javadb.Init(opts.DB.CacheDir, javaRepos, opts.DB.SkipUpdate || javaSkip, opts.DB.NoProgress, ftypes.RegistryOptions{Insecure: opts.DB.Insecure})
	rc := timedCache{cache.RemoteOptions{ServerAddr: opts.Server.URL, CustomHeaders: opts.Server.Headers}, serverTimeout(opts.Server)}
	return &Scanner{opts: opts, db: opts.Server.DB, cache: rc, close: func() {}, unlock: func() {}, claims: openClaims(ctx, opts.Cache)}, nil
}

// serverTimeout bounds each request to the Trivy server (--timeout, Trivy's flag, whose
// default is 5 minutes): a server that stops answering (stopped, overloaded, or a
// network that drops the packets) fails the scan instead of hanging the runner.
func serverTimeout(o *engine.ServerOptions) time.Duration {
	if o == nil || o.Timeout <= 0 {
		return engine.DefaultServerTimeout
	}
	return o.Timeout
}

// timedCache is Trivy's remote cache with every call bounded by the server timeout.
// Trivy's RemoteCache sends its requests with the context it was made with, not the
// call's: one is made for each call, with the call's context and deadline.
type timedCache struct {
	opts    cache.RemoteOptions
	timeout time.Duration
}

func (c timedCache) remote(ctx context.Context) (cache.RemoteCache, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return *cache.NewRemoteCache(ctx, c.opts), cancel
}

func (c timedCache) MissingBlobs(ctx context.Context, artifactID string, blobIDs []string) (bool, []string, error) {
	rc, cancel := c.remote(ctx)
	defer cancel()
	return rc.MissingBlobs(ctx, artifactID, blobIDs)
}

func (c timedCache) PutArtifact(ctx context.Context, id string, info ftypes.ArtifactInfo) error {
	rc, cancel := c.remote(ctx)
	defer cancel()
	return rc.PutArtifact(ctx, id, info)
}

func (c timedCache) PutBlob(ctx context.Context, id string, info ftypes.BlobInfo) error {
	rc, cancel := c.remote(ctx)
	defer cancel()
	return rc.PutBlob(ctx, id, info)
}

func (c timedCache) DeleteBlobs(ctx context.Context, ids []string) error {
	rc, cancel := c.remote(ctx)
	defer cancel()
	return rc.DeleteBlobs(ctx, ids)
}

// remoteService is Trivy's RPC client for the server, each Scan call bounded by the
// server timeout.
func (s *Scanner) remoteService() scan.Backend {
	return timedBackend{client.NewService(client.ServiceOption{RemoteURL: s.opts.Server.URL, CustomHeaders: s.opts.Server.Headers}), serverTimeout(s.opts.Server)}
}

type timedBackend struct {
	scan.Backend
	timeout time.Duration
}

func (b timedBackend) Scan(ctx context.Context, target, artifactKey string, blobKeys []string, opts types.ScanOptions) (types.ScanResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.Backend.Scan(ctx, target, artifactKey, blobKeys, opts)
}

// sharedCacheError words a failure of a shared cache: the Trivy server's (a Twirp
// call), or the Redis cache without a server (Trivy's Redis backend: a Redis that
// stopped, froze or refuses the password); nil for any other error.
func (s *Scanner) sharedCacheError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if s.opts.Server != nil {
		if isTwirp(err) {
			return s.serverError(err)
		}
		return nil
	}
	if s.opts.Cache == nil || !redisFailure(err) {
		return nil
	}
	cause := engine.RedactErr(errors.New(balanced(rootCause(err))), s.opts.Cache.URL)
	if strings.Contains(cause, "WRONGPASS") || strings.Contains(cause, "NOAUTH") {
		return fmt.Errorf("the Redis cache %s refused the password (%s): give the password Redis wants in --cache-backend or $%s", s.opts.Cache.Masked(), cause, engine.CacheBackendEnv)
	}
	return fmt.Errorf("the Redis cache %s failed in the middle of the scan (%s): check that it runs and answers (not stopped, frozen or out of memory), then run again; nothing is reported for an image not fully scanned", s.opts.Cache.Masked(), cause)
}

// redisFailure reports whether err comes from the connection to Redis or Redis itself.
func redisFailure(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"redis", "WRONGPASS", "NOAUTH", "i/o timeout", "connection refused", "connection reset", "broken pipe", "LOADING", "OOM command not allowed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// isTwirp reports whether err comes from a Twirp call (Trivy's client/server protocol).
func isTwirp(err error) bool {
	var te twirp.Error
	return errors.As(err, &te)
}

// serverError words a failed request to the Trivy server: the server, and what to do.
func (s *Scanner) serverError(err error) error {
	shown := engine.MaskURL(s.opts.Server.URL)
	var te twirp.Error
	if errors.As(err, &te) && te.Code() == twirp.Unauthenticated {
		return fmt.Errorf("the Trivy server %s refused the token: give the server's token with --token or $%s", shown, engine.TokenEnv)
	}
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Code() == twirp.DeadlineExceeded) {
		return fmt.Errorf("the Trivy server %s did not answer within %s (--timeout): check that it runs and is not stopped or overloaded, or give a longer --timeout; nothing is reported for an image the server did not check", shown, serverTimeout(s.opts.Server))
	}
	return fmt.Errorf("the Trivy server %s failed the scan (%s): check that it runs, its log and its cache backend; nothing is reported for an image the server did not check", shown, balanced(rootCause(err)))
}

// balanced drops the closing parentheses a cut message has no opening one for.
func balanced(s string) string {
	for strings.HasSuffix(s, ")") && strings.Count(s, ")") > strings.Count(s, "(") {
		s = strings.TrimSuffix(s, ")")
	}
	return s
}

// javaRepositories parses --java-db-repository values (default Trivy's), tagging them
// with the Java DB schema version.
func javaRepositories(refs []string) ([]name.Reference, error) {
	if len(refs) == 0 {
		refs = engine.DefaultJavaDBRepositories
	}
	return engine.ParseDBRepositories(refs, "java-db-repository", javadb.SchemaVersion)
}

// DB returns the status of the DB the scanner uses.
func (s *Scanner) DB() DBStatus { return s.db }

// Close closes the DB and the layer cache.
func (s *Scanner) Close() error {
	s.claims.close()
	s.close()
	s.unlock()
	return db.Close()
}

// Image, Suppression: see package engine.
type (
	Image       = engine.Image
	Suppression = engine.Suppression
)

// Result is one scan: our model plus Trivy's report, kept for Trivy's writers.
type Result struct {
	report.Scan
	trivy types.Report
}

// Archive gives Scan the image's archive: a `docker save` tar (legacy or OCI layout),
// read once, in order. Scan calls it exactly once; with need false the archive is not
// wanted (the image's config and layers are all in the caches) and the reader is ignored.
type Archive func(need bool) (io.Reader, error)

// Scan analyses the image's layers and detects vulnerabilities in OS and language
// packages, as `trivy image --scanners vuln` does. The archive is read as a stream:
// layers missing from Trivy's layer cache are analysed as they arrive (see ingest), so
// no copy of the image is made; when the image's config and every layer are cached
// already (a re-scan against a new DB), the archive is not read at all. img.ID is
// required: Scan fails when the archive's config does not have that digest, or when
// the archive is not a complete image.
func (s *Scanner) Scan(ctx context.Context, img Image, archive Archive) (*Result, error) {
	started := time.Now()
	if !strings.HasPrefix(img.ID, "sha256:") {
		return nil, fmt.Errorf("internal: no image ID for %s", img.Reference)
	}
	aopts := artifact.Option{
		DisabledAnalyzers: disabledAnalyzers(s.opts.BestPractices, s.opts.Secrets),
		Parallel:          s.opts.Parallel,
		NoProgress:        s.opts.NoProgress,
		Offline:           true,
	}
	sopts := ScanOptions()
	if s.opts.Secrets {
		// As `trivy image --scanners vuln,secret --secret-config FILE`: the analyser
		// reads the config (Trivy's cache key hashes its content too, see blobKey).
		aopts.SecretScannerOption = analyzer.SecretScannerOption{ConfigPath: s.opts.SecretConfig}
		sopts.Scanners = append(sopts.Scanners, types.SecretScanner)
	}
	if s.opts.BestPractices {
		// Trivy's checks embedded in the binary: no checks bundle download.
		aopts.MisconfScannerOption = misconf.ScannerOption{Namespaces: rego.BuiltinNamespaces()}
		sopts.ImageConfigScanners = types.Scanners{types.MisconfigScanner, types.SecretScanner}
		if s.opts.Server != nil {
			// Trivy's Scan RPC does not carry the image-config scanners: the server
			// returns the image config's checks and secrets (analysed here, kept in
			// its cache) when the scanners ask for misconfigurations and secrets.
			sopts.Scanners = append(sopts.Scanners, types.MisconfigScanner)
			if !slices.Contains(sopts.Scanners, types.SecretScanner) {
				sopts.Scanners = append(sopts.Scanners, types.SecretScanner)
			}
		}
	}
	plan, err := s.plan(ctx, img, aopts)
	if err != nil {
		if e := s.sharedCacheError(ctx, err); e != nil {
			return nil, e
		}
		return nil, err
	}
	need := plan.needsArchive()
	r, err := archive(need)
	if err != nil {
		return nil, err
	}
	if !need {
		slog.Debug("The image record and every layer are cached: the image archive is not read", "image_id", img.ID)
	}
	var in *ingested
	blobs := plan.record.get
	if need {
		if in, err = s.ingest(ctx, r, plan); err != nil {
			if e := s.sharedCacheError(ctx, err); e != nil {
				return nil, e
			}
			if diskFull(err) {
				return nil, s.diskFullError(img, "or of the temporary folder")
			}
			return nil, errors.New(javaDBHint(err, err.Error()))
		}
		blobs = in.json.get
	}
	if _, ok := blobs(img.ID); !ok {
		return nil, fmt.Errorf("the image archive holds no config for image %s (nor an index or manifest of that digest): it is not a docker save archive of that image", img.ID)
	}
	resolved, err := dockerarchive.Resolve(img.ID, blobs, img.Platform)
	if err != nil {
		return nil, fmt.Errorf("image %s: %v", img.Reference, err)
	}
	if miss := missingManifests(resolved, img.Available); img.Platform == "" && len(miss) > 0 {
		return nil, fmt.Errorf("the daemon holds platform image %s of %s, but its export lacks it: run again (nothing is reported for a platform not looked at)", miss[0], img.Reference)
	}
	for _, pi := range resolved.Images {
		if len(pi.DiffIDs) == 0 {
			return nil, fmt.Errorf("image %s (%s) has no layers: there is nothing to scan (add a layer, or scan the image it is built from)", img.Reference, pi.Platform)
		}
	}
	if in != nil {
		err := s.store(ctx, plan, in, resolved, img.ID)
		s.claims.drop() // the analyses are in the cache: runners waiting on them go on
		if err != nil {
			if e := s.sharedCacheError(ctx, err); e != nil {
				return nil, e
			}
			if diskFull(err) {
				return nil, s.diskFullError(img, "")
			}
			return nil, err
		}
	}
	// Each platform image: Trivy's own image artifact finds every layer in the cache,
	// analyses the config (history packages, best-practice checks) and builds the
	// artifact reference.
	var reps []types.Report
	// The image config's checks through a shared cache: see imageconfig.go.
	capture := newConfigCapture(s.cache, s.local, s.opts.BestPractices && (s.opts.Server != nil || s.opts.Cache != nil))
	for _, pi := range resolved.Images {
		cfg, err := v1.ParseConfigFile(bytes.NewReader(pi.ConfigRaw))
		if err != nil {
			return nil, fmt.Errorf("read the image config of %s: %v", img.Reference, err)
		}
		art, err := artimage.NewArtifact(&streamedImage{ref: img, config: pi.Config, raw: pi.ConfigRaw, cfg: cfg}, capture, aopts)
		if err != nil {
			return nil, fmt.Errorf("prepare the scan of %s: %v", img.Reference, err)
		}
		var backend scan.Backend
		if s.opts.Server != nil {
			backend = remoteBackend{Backend: s.remoteService(), capture: capture, bestPractices: s.opts.BestPractices}
		} else {
			backend = local.NewService(applier.NewApplier(capture.localCache()), ospkg.NewScanner(), langpkg.NewScanner(), vulnerability.NewClient(db.Config{}))
		}
		rep, err := scan.NewService(backend, art).ScanArtifact(ctx, sopts)
		if err != nil {
			if s.opts.Server != nil && ctx.Err() == nil {
				return nil, s.serverError(err)
			}
			if e := s.sharedCacheError(ctx, err); e != nil {
				return nil, e
			}
			if diskFull(err) {
				return nil, s.diskFullError(img, "")
			}
			return nil, fmt.Errorf("scan %s: %s", img.Reference, javaDBHint(err, rootCause(err)))
		}
		reps = append(reps, rep)
	}
	// Trivy's CLI filter (pkg/result.FilterResult with its defaults: every severity, no
	// ignore file): duplicate findings merged, only failed checks kept (passed ones are
	// not findings, and SARIF would turn them into alerts), vulnerabilities in Trivy's
	// order (package, severity, ID), so reports are stable from run to run. Exceptions
	// and VEX are the policy's job, not done here.
	checks := 0
	var all []dbTypes.Severity
	for i := range dbTypes.SeverityNames {
		all = append(all, dbTypes.Severity(i))
	}
	for _, rep := range reps {
		for i := range rep.Results {
			if err := result.FilterResult(ctx, &rep.Results[i], result.IgnoreConfig{}, result.FilterOptions{Severities: all}); err != nil {
				return nil, fmt.Errorf("scan %s: %v", img.Reference, err)
			}
			if ms := rep.Results[i].MisconfSummary; ms != nil && rep.Results[i].Class == types.ClassConfig {
				checks += ms.Successes + ms.Failures
			}
		}
	}
	analysed := map[string]bool{}
	if in != nil {
		for d := range in.blobs {
			analysed[d] = true
		}
	}
	reps = platformTargets(reps, resolved)
	res := &Result{trivy: mergeReports(reps)}
	res.Scan = convertPlatforms(reps, resolved, img, s.db, analysed, blobs)
	// Releases with no vulnerability data: osdata.go (through a server, asked of it).
	var probe func(ftypes.OS, []ftypes.Package) (bool, error)
	if s.opts.Server != nil {
		probe = func(o ftypes.OS, pkgs []ftypes.Package) (bool, error) { return s.releaseProbe(ctx, o, pkgs) }
	}
	if err := osDataGaps(reps, &res.Scan, probe); err != nil {
		if ctx.Err() == nil {
			return nil, s.serverError(err)
		}
		return nil, err
	}
	res.StartedAt, res.FinishedAt = started, time.Now()
	res.BestPracticeChecks = checks
	return res, nil
}

// releaseProbe asks the Trivy server whether its DB has data for the OS release o (a
// scan of which found no vulnerability in its packages pkgs: a clean image, or a
// release the DB does not carry, which Trivy does not tell apart). It scans, through the
// server, a made-up layer with the same OS and the same packages at version 0, older
// than any fix: a DB that has advisories for the release and for any of these packages
// reports them. None means no data covers the image's packages in that release: they
// were not checked. The layer and image entries are put in the server's cache under
// keys of their own (the same for the same OS and package names), and the layer removed
// afterwards.
func (s *Scanner) releaseProbe(ctx context.Context, o ftypes.OS, pkgs []ftypes.Package) (bool, error) {
	h := sha256.New()
	fmt.Fprintf(h, "secscan release probe v1\x00%s\x00%s\x00%t", o.Family, o.Name, o.Extended)
	zero := make([]ftypes.Package, 0, len(pkgs))
	for _, p := range pkgs {
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s", p.Name, p.SrcName, p.Arch)
		zero = append(zero, ftypes.Package{ID: p.Name + "@0", Name: p.Name, Version: "0", SrcName: p.SrcName, SrcVersion: "0",
			Arch: p.Arch, Relationship: p.Relationship})
	}
	sum := hex.EncodeToString(h.Sum(nil))
	blobKey, artifactKey := "sha256:"+sum, "sha256:"+sum[:62]+"ff"
	blob := ftypes.BlobInfo{SchemaVersion: ftypes.BlobJSONSchemaVersion, OS: ftypes.OS{Family: o.Family, Name: o.Name, Extended: o.Extended},
		PackageInfos: []ftypes.PackageInfo{{FilePath: "secscan-release-probe", Packages: zero}}}
	if err := s.cache.PutBlob(ctx, blobKey, blob); err != nil {
		return false, err
	}
	defer func() { _ = s.cache.DeleteBlobs(context.WithoutCancel(ctx), []string{blobKey}) }()
	if err := s.cache.PutArtifact(ctx, artifactKey, ftypes.ArtifactInfo{SchemaVersion: ftypes.ArtifactJSONSchemaVersion}); err != nil {
		return false, err
	}
	sopts := ScanOptions()
	sopts.PkgTypes = []string{types.PkgTypeOS}
	resp, err := s.remoteService().Scan(ctx, "release probe", artifactKey, []string{blobKey}, sopts)
	if err != nil {
		return false, err
	}
	for _, r := range resp.Results {
		if r.Class == types.ClassOSPkg && len(r.Vulnerabilities) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// diskFull reports whether err comes from a full disk (ENOSPC), which Trivy's messages
// word as a DB or cache problem.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "no space left on device")
}

// diskFullError says that the scan of img ran out of disk space in the cache folder
// (also, where says so, in the temporary folder) and what to do.
func (s *Scanner) diskFullError(img Image, also string) error {
	where := "the cache folder " + s.opts.DB.CacheDir
	if also != "" {
		where += " " + also
	}
	return fmt.Errorf("scan %s: no space left on the device of %s: free some space or use --cache-dir on another disk", img.Reference, where)
}

// javaDBHint turns a failure to get the Java DB (which Trivy fetches when a layer
// holds a .jar) into what to do about it; other messages (msg) are returned as they are.
func javaDBHint(err error, msg string) string {
	full := err.Error()
	var le layerError
	if errors.As(err, &le) {
		full = le.err.Error()
	}
	if strings.Contains(full, "skip-java-db-update") {
		return "the image holds .jar files and the cache has no Java DB, which --skip-db-update does not let the scan download: run 'docker secscan db update --java-db' (with --java-db-repository for a mirror)"
	}
	if strings.Contains(strings.ToLower(full), "java db") || strings.Contains(full, "trivy-java-db") {
		return "the image holds .jar files and the Java DB is not available (" + registryCause(err) + "): run 'docker secscan db update --java-db' (with --java-db-repository for a mirror)"
	}
	return msg
}

// ScanOptions are the options `trivy image --scanners vuln` computes from its flag
// defaults (pkg/flag): zero values are not Trivy's defaults (see the design notes).
func ScanOptions() types.ScanOptions {
	return types.ScanOptions{
		PkgTypes:            []string{types.PkgTypeOS, types.PkgTypeLibrary},
		PkgRelationships:    ftypes.Relationships,
		Scanners:            types.Scanners{types.VulnerabilityScanner},
		VulnSeveritySources: []dbTypes.SourceID{"auto"},
	}
}

// disabledAnalyzers mirrors pkg/commands/artifact.disabledAnalyzers for
// `trivy image --scanners vuln` (`vuln,secret` when secrets is set, plus
// `--image-config-scanners misconfig,secret` when bestPractices is set): no lock files
// (image mode), apk command history, file secrets unless asked for, config files,
// licence files, executables (Rekor, which would need the network) or RPM archives,
// and no Dockerfile history unless best practices are checked.
func disabledAnalyzers(bestPractices, secrets bool) []analyzer.Type {
	var out []analyzer.Type
	out = append(out, analyzer.TypeLockfiles...)
	out = append(out, analyzer.TypeApkCommand)
	if !secrets {
		out = append(out, analyzer.TypeSecret)
	}
	out = append(out, analyzer.TypeConfigFiles...)
	out = append(out, analyzer.TypeLicenseFile, analyzer.TypeExecutable, analyzer.TypeRpmArchive)
	if !bestPractices {
		out = append(out, analyzer.TypeHistoryDockerfile)
	}
	return out
}

func convert(rep types.Report, img Image, st DBStatus) report.Scan {
	out := report.Scan{
		Image: report.Image{
			Reference: img.Reference, ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests,
		},
		Scanner:  "trivy " + TrivyVersion,
		DB:       st.DB,
		Findings: []report.Finding{},
	}
	if o := rep.Metadata.OS; o != nil {
		out.Image.OS = strings.TrimSpace(string(o.Family) + " " + o.Name)
		out.Image.EOSL = o.Eosl
	}
	for _, r := range rep.Results {
		if secretFile(r) {
			out.Findings = append(out.Findings, secretFindings(r)...)
			continue
		}
		out.Packages += len(r.Packages)
		out.Findings = append(out.Findings, bestPracticeFindings(r)...)
		for _, v := range r.Vulnerabilities {
			f := report.Finding{
				Kind:             report.KindVulnerability,
				VulnerabilityID:  v.VulnerabilityID,
				PkgName:          v.PkgName,
				PkgID:            v.PkgID,
				PkgPath:          v.PkgPath,
				InstalledVersion: v.InstalledVersion,
				FixedVersion:     v.FixedVersion,
				Status:           v.Status.String(),
				Severity:         severity(v.Severity),
				Title:            v.Title,
				PrimaryURL:       v.PrimaryURL,
				Target:           r.Target,
				Class:            string(r.Class),
				Type:             string(r.Type),
			}
			if v.PkgIdentifier.PURL != nil {
				f.PURL = v.PkgIdentifier.PURL.String()
			}
			// The advisory's other IDs (e.g. its GHSA ID when Trivy reports its CVE):
			// exceptions and baselines match any of them.
			f.Aliases = v.VendorIDs
			out.Findings = append(out.Findings, f)
		}
	}
	return out
}

func severity(s string) report.Severity {
	sev, err := report.ParseSeverity(s)
	if err != nil {
		return report.SeverityUnknown
	}
	return sev
}

// WriteOptions tune Write.
type WriteOptions struct {
	// Suppressed findings are moved out of the results into Trivy's
	// ExperimentalModifiedFindings with their status and statement, as Trivy does for
	// .trivyignore and VEX (JSON, SARIF and CycloneDX then leave them out of the
	// findings; JSON lists them as suppressed).
	Suppressed []Suppression
	// Platform, when set (os/arch[/variant]), keeps only that platform image's results
	// of a multi-platform scan (whose targets end in " [os/arch]", see platformTargets),
	// under Trivy's own target names. A platform the scan does not have is an error.
	Platform string
	// Platforms are the scan's platform images (os/arch[/variant], report.Image.Platforms).
	Platforms []string
}

// Write renders the result in one of Formats with Trivy's own writer, so JSON follows
// Trivy's report schema (SchemaVersion 2), SARIF is SARIF 2.1.0 and CycloneDX is
// Trivy's CycloneDX BOM with vulnerabilities.
func (r *Result) Write(ctx context.Context, w io.Writer, format string, opts WriteOptions) (err error) {
	// Trivy's writers are not hardened against every input; a crash there must be an
	// error (no report), not a dead process.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write the %s report: the report writer failed: %v", format, p)
		}
	}()
	// Trivy's writers change the report they are given (the JSON writer drops the
	// packages): each gets its own copy of the results.
	rep := suppress(r.trivy, opts.Suppressed)
	rep.Results = slices.Clone(rep.Results)
	if opts.Platform != "" {
		if rep, err = onePlatform(rep, opts.Platform, opts.Platforms); err != nil {
			return err
		}
	}
	rep.Trivy.Version = TrivyVersion // the library reports "dev"
	var writer interface {
		Write(context.Context, types.Report) error
	}
	switch format {
	case "json":
		// As `trivy image -f json` (whose --list-all-pkgs defaults to true): the
		// packages too, not only the vulnerable ones.
		writer = &trivyreport.JSONWriter{Output: w, ShowSuppressed: true, ListAllPkgs: true}
	case "sarif":
		writer = &trivyreport.SarifWriter{Output: w, Version: TrivyVersion}
		rep = sarifReport(rep) // every location a relative URI code scanning accepts (sarif.go)
	case "cyclonedx":
		writer = cyclonedx.NewWriter(w, TrivyVersion)
	case "cosign-vuln":
		// Cosign's vulnerability predicate, as `trivy image --format cosign-vuln`.
		writer = predicate.NewVulnWriter(w, TrivyVersion)
	default:
		return fmt.Errorf("unknown report format %q: use one of %s", format, strings.Join(engine.Formats, ", "))
	}
	if err := writer.Write(ctx, rep); err != nil {
		return fmt.Errorf("write the %s report: %w", format, err)
	}
	return nil
}

// suppress returns a copy of rep whose results no longer hold the suppressed
// vulnerabilities and misconfigurations, which are listed as modified findings instead.
func suppress(rep types.Report, sup []Suppression) types.Report {
	if len(sup) == 0 {
		return rep
	}
	key := func(target, id, pkg, version, path string) string {
		return target + "\x00" + id + "\x00" + pkg + "\x00" + version + "\x00" + path
	}
	byKey := map[string]Suppression{}
	for _, s := range sup {
		f := s.Finding
		id := f.VulnerabilityID
		if f.Kind == report.KindBestPractice && len(f.Aliases) > 0 && DockleID(f.Aliases[0]) == id {
			id = f.Aliases[0]
		}
		if f.Kind == report.KindSecret {
			byKey[key(f.Target, id, "", "", "")] = s // every finding of the rule in the file
			continue
		}
		byKey[key(f.Target, id, f.PkgName, f.InstalledVersion, f.PkgPath)] = s
	}
	out := rep
	out.Results = make(types.Results, len(rep.Results))
	for i, r := range rep.Results {
		r.Vulnerabilities = slices.Clone(r.Vulnerabilities)
		r.Misconfigurations = slices.Clone(r.Misconfigurations)
		r.Secrets = slices.Clone(r.Secrets)
		r.ModifiedFindings = slices.Clone(r.ModifiedFindings)
		r.Vulnerabilities = slices.DeleteFunc(r.Vulnerabilities, func(v types.DetectedVulnerability) bool {
			s, ok := byKey[key(r.Target, v.VulnerabilityID, v.PkgName, v.InstalledVersion, v.PkgPath)]
			if ok {
				r.ModifiedFindings = append(r.ModifiedFindings, types.NewModifiedFinding(v, types.FindingStatus(s.Status), s.Statement, s.Source))
			}
			return ok
		})
		r.Secrets = slices.DeleteFunc(r.Secrets, func(sec types.DetectedSecret) bool {
			s, ok := byKey[key(r.Target, sec.RuleID, "", "", "")]
			if ok && secretFile(r) {
				r.ModifiedFindings = append(r.ModifiedFindings, types.NewModifiedFinding(sec, types.FindingStatus(s.Status), s.Statement, s.Source))
			}
			return ok && secretFile(r)
		})
		r.Misconfigurations = slices.DeleteFunc(r.Misconfigurations, func(m types.DetectedMisconfiguration) bool {
			s, ok := byKey[key(r.Target, m.ID, "", "", "")]
			if ok {
				r.ModifiedFindings = append(r.ModifiedFindings, types.NewModifiedFinding(m, types.FindingStatus(s.Status), s.Statement, s.Source))
			}
			return ok
		})
		out.Results[i] = r
	}
	return out
}

// Trivy returns Trivy's report of the scan as JSON (the whole types.Report, with
// packages), for RenderJSON in another process.
func (r *Result) Trivy() ([]byte, error) { return json.Marshal(r.trivy) }

// Rename makes the report name the image as ref (with these repo tags and digests),
// as a scan under that reference would: the artifact name, the reference, and the
// targets (report.RenamedTarget, the rule report.Scan.Rename follows too, so that
// suppressions keep matching). A scan is cached by image ID, so the same image pushed
// under another name reuses it.
func (r *Result) Rename(ref string, repoTags, repoDigests []string) {
	old := r.trivy.ArtifactName
	if ref == "" || ref == old {
		return
	}
	r.trivy.ArtifactName = ref
	r.trivy.Metadata.RepoTags, r.trivy.Metadata.RepoDigests = repoTags, repoDigests
	if n, err := imgname.ParseReference(ref); err == nil {
		r.trivy.Metadata.Reference = n
	}
	r.trivy.Results = slices.Clone(r.trivy.Results)
	for i, res := range r.trivy.Results {
		r.trivy.Results[i].Target = report.RenamedTarget(res.Target, old, ref)
	}
}

// ResultFromTrivy rebuilds a Result that can Write from Trivy's report JSON (as
// `trivy convert` does).
func ResultFromTrivy(raw []byte) (*Result, error) {
	var rep types.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("read the scan's Trivy report: %v", err)
	}
	return &Result{trivy: rep}, nil
}

// secretFile reports whether r is the secrets Trivy's secret scanner found in one file
// of the image: its target is the file's absolute path (the secret in the image config,
// a best-practice finding, is targeted at the image).
func secretFile(r types.Result) bool {
	return r.Class == types.ClassSecret && strings.HasPrefix(r.Target, "/")
}

// maxSecretMatch bounds the redacted line a secret finding keeps (a minified file is one
// long line).
const maxSecretMatch = 200

// secretFindings converts the secrets of one file: the rule, its severity, the file and
// line, and the line as Trivy redacted it (Trivy's scanner replaces the secret by
// asterisks before it returns the finding; the raw value never reaches the report).
func secretFindings(r types.Result) []report.Finding {
	var out []report.Finding
	for _, s := range r.Secrets {
		match := strings.TrimSpace(s.Match)
		if len(match) > maxSecretMatch {
			match = match[:maxSecretMatch] + "…"
		}
		title := s.Title
		if title == "" {
			title = s.RuleID
		}
		out = append(out, report.Finding{
			Kind: report.KindSecret, VulnerabilityID: s.RuleID, Severity: severity(s.Severity),
			Title: title, PkgPath: r.Target, StartLine: s.StartLine, Match: match,
			Target: r.Target, Class: string(r.Class), Type: string(s.Category),
		})
	}
	return out
}
