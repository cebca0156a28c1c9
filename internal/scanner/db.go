package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy/pkg/db"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/javadb"
	xhttp "github.com/aquasecurity/trivy/pkg/x/http"
	"github.com/google/go-containerregistry/pkg/name"
	bolt "go.etcd.io/bbolt"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/filelock"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// ErrNoDB means no usable vulnerability DB is in the cache and none may be downloaded.
var ErrNoDB = errors.New("no vulnerability DB in the cache")

// DBOptions, DBStatus: see package engine.
type (
	DBOptions = engine.DBOptions
	DBStatus  = engine.DBStatus
)

// sourceFile records, beside trivy.db, which repository the DB came from.
const sourceFile = "secscan-source"

// ParseDBRepositories parses OCI references to DB artifacts (see
// engine.ParseDBRepositories) with this build's DB schema as the default tag.
func ParseDBRepositories(refs []string, flagName string) ([]name.Reference, error) {
	return engine.ParseDBRepositories(refs, flagName, trivydb.SchemaVersion)
}

// ReadDBStatus reads the metadata of the DB in cacheDir without opening it.
// It returns ErrNoDB (wrapped) when there is no DB.
func ReadDBStatus(cacheDir string) (DBStatus, error) {
	dir := db.Dir(cacheDir)
	st := DBStatus{Path: trivydb.Path(dir), JavaDB: readJavaDBStatus(cacheDir)}
	if _, err := os.Stat(st.Path); err != nil {
		return st, fmt.Errorf("%w %s", ErrNoDB, cacheDir)
	}
	meta, err := metadata.NewClient(dir).Get()
	if err != nil {
		return st, fmt.Errorf("%w %s: metadata.json is unreadable: %v", ErrNoDB, cacheDir, err)
	}
	st.DB = report.DB{SchemaVersion: meta.Version, UpdatedAt: meta.UpdatedAt, NextUpdate: meta.NextUpdate, DownloadedAt: meta.DownloadedAt}
	if b, err := os.ReadFile(filepath.Join(dir, sourceFile)); err == nil {
		st.Source = strings.TrimSpace(string(b))
	}
	return st, nil
}

// needsUpdate applies Trivy's update rule (pkg/db.Client.NeedsUpdate): download when
// there is no DB, the schema differs, or the DB is past NextUpdate and more than an
// hour old.
func needsUpdate(st DBStatus, err error, now time.Time) bool {
	if err != nil || st.SchemaVersion != trivydb.SchemaVersion || st.DownloadedAt.IsZero() {
		return true
	}
	return !now.Before(st.NextUpdate) && !now.Before(st.DownloadedAt.Add(time.Hour))
}

// EnsureDB makes sure a usable DB is in the cache, downloading it when Trivy's rule
// says so (or always when force is set). A download goes to a temporary folder and
// replaces the cached DB only once it has been opened and checked, so a failed or
// corrupt download leaves the old DB in place. Concurrent callers are serialised with
// a lock file in the cache folder.
func EnsureDB(ctx context.Context, opts DBOptions, force bool) (DBStatus, error) {
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return DBStatus{}, fmt.Errorf("cache folder %s: %w", opts.CacheDir, err)
	}
	setTransport(opts.Insecure)
	unlock, err := filelock.LockContext(ctx, filepath.Join(opts.CacheDir, "db.lock"), nil)
	if err != nil {
		if !(opts.SkipUpdate && !force && errors.Is(err, syscall.EROFS)) {
			return DBStatus{}, err
		}
		// A read-only, pre-filled cache: nobody can change it, no lock needed.
		unlock = func() {}
	}
	defer unlock()
	// Downloads that an interrupted run left behind (we hold the lock: none is live).
	if old, _ := filepath.Glob(filepath.Join(opts.CacheDir, "db-download-*")); len(old) > 0 {
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}

	st, stErr := ReadDBStatus(opts.CacheDir)
	if opts.SkipUpdate && !force {
		if stErr != nil {
			return st, fmt.Errorf("%w and --skip-db-update forbids a download: run without --skip-db-update, run 'docker secscan db update', or import a DB with 'docker secscan db import FILE'", stErr)
		}
		if st.SchemaVersion != trivydb.SchemaVersion {
			return st, fmt.Errorf("the cached DB has schema %d, this build needs %d: run 'docker secscan db update' or import a DB of schema %d with 'docker secscan db import FILE'", st.SchemaVersion, trivydb.SchemaVersion, trivydb.SchemaVersion)
		}
		return st, nil
	}
	damaged := false
	if stErr == nil && !force {
		valid := validateDB(db.Dir(opts.CacheDir)) == nil
		if valid && !needsUpdate(st, stErr, time.Now()) {
			return st, nil
		}
		// The cached DB is damaged: download it again rather than fail every scan.
		damaged = !valid
	}
	// Where a download goes when no repository is set (flag, environment, policy): to
	// the repository the cached DB came from, never silently elsewhere.
	if len(opts.Repositories) == 0 && stErr == nil {
		switch src := st.Source; {
		case strings.HasPrefix(src, engine.ImportedSourcePrefix) && !force:
			path := strings.TrimPrefix(src, engine.ImportedSourcePrefix)
			if damaged || st.SchemaVersion != trivydb.SchemaVersion {
				return st, fmt.Errorf("the cached vulnerability DB (%s) is damaged or of another schema and no DB repository is set: import it again with 'docker secscan db import %s', or download one with --db-repository", src, path)
			}
			// An imported DB is kept until the next import (an air-gapped site has
			// nowhere to download from); say that it is due.
			fmt.Fprintf(progressOut, "The vulnerability DB %s (updated at %s) is past its next update: import a newer one with 'docker secscan db import', or set --db-repository to download one\n",
				src, st.UpdatedAt.UTC().Format(time.RFC3339))
			return st, nil
		case src != "" && !strings.HasPrefix(src, engine.ImportedSourcePrefix) && !isDefaultDBRepository(src):
			if _, err := name.ParseReference(src); err == nil {
				opts.Repositories = []string{src}
				opts.RepositoriesFrom = "the source of the cached DB"
			}
		}
	}
	if err := downloadDB(ctx, opts, stErr == nil && !force); err != nil {
		return st, err
	}
	return ReadDBStatus(opts.CacheDir)
}

// isDefaultDBRepository reports whether ref is one of Trivy's default DB repositories
// (a DB from there is updated from all of them, in Trivy's order).
func isDefaultDBRepository(ref string) bool {
	defs, _ := ParseDBRepositories(engine.DefaultDBRepositories, "db-repository")
	for _, d := range defs {
		if d.String() == ref {
			return true
		}
	}
	return false
}

func downloadDB(ctx context.Context, opts DBOptions, haveDB bool) error {
	repoNames := opts.Repositories
	from := opts.RepositoriesFrom
	if len(repoNames) == 0 {
		repoNames = engine.DefaultDBRepositories
		from = "Trivy's default"
	}
	repos, err := ParseDBRepositories(repoNames, "db-repository")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(opts.CacheDir, "db-download-")
	if err != nil {
		return fmt.Errorf("cache folder %s: %w", opts.CacheDir, err)
	}
	defer os.RemoveAll(tmp)

	// Try each repository in turn (as Trivy does), remembering which one served. Each
	// attempt is watched (dbwatch.go): a repository that does not answer is left
	// after dbAnswerTimeout, and the whole download is bounded by dbOverallTimeout.
	octx, ocancel := context.WithTimeout(ctx, dbOverallTimeout)
	defer ocancel()
	base := xhttp.NewTransport(xhttp.Options{Timeout: dbAnswerTimeout, Insecure: opts.Insecure})
	var failures []string
	source := ""
	for _, ref := range repos {
		if from != "" {
			fmt.Fprintf(progressOut, "Downloading the vulnerability DB from %s (%s) ...\n", ref, from)
		} else {
			fmt.Fprintf(progressOut, "Downloading the vulnerability DB from %s ...\n", ref)
		}
		client := db.NewClient(tmp, opts.NoProgress, db.WithDBRepository([]name.Reference{ref}))
		actx, w := watchRepo(octx, ref.String(), "vulnerability DB", base)
		err := client.Download(actx, tmp, ftypes.RegistryOptions{Insecure: opts.Insecure})
		cause := w.cause()
		w.stop()
		if err != nil && errors.Is(octx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no complete download within %s", dbOverallTimeout)
		} else if err != nil && cause != nil {
			err = cause
		}
		if err == nil {
			err = validateDB(tmp)
		}
		if err == nil {
			source = ref.String()
			break
		}
		failures = append(failures, fmt.Sprintf("%s: %s", ref, registryCause(err)))
		if octx.Err() != nil {
			break
		}
	}
	if source == "" {
		joined := strings.Join(failures, "; ")
		if strings.Contains(joined, "no space left on device") {
			return fmt.Errorf("cannot get a usable vulnerability DB: no space left on the device of %s: free some space or use --cache-dir on another disk (the cached DB, if any, is unchanged)", opts.CacheDir)
		}
		hint := "check the network, give a repository that serves it with --db-repository (or $" + engine.DBRepositoryEnv + ", or db.repository in the policy), or import a DB with 'docker secscan db import FILE'"
		if haveDB {
			hint += ", or use the cached DB as it is with --skip-db-update"
		}
		return fmt.Errorf("cannot get a usable vulnerability DB (%s): %s", joined, hint)
	}
	return installDB(tmp, db.Dir(opts.CacheDir), source)
}

// installDB records source beside the checked DB in tmp and makes tmp the folder dst:
// the old one is renamed aside first and removed only once tmp is in place, so dst is
// always a whole DB (the caller holds the cache's DB lock).
func installDB(tmp, dst, source string) error {
	if err := os.WriteFile(filepath.Join(tmp, sourceFile), []byte(source+"\n"), 0o644); err != nil {
		return err
	}
	old := dst + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Rename(old, dst)
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	_ = os.RemoveAll(old)
	return nil
}

// validateDB checks that dir holds a BoltDB file that opens and a metadata.json of the
// schema this build reads.
func validateDB(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err != nil {
		return fmt.Errorf("the artifact holds no metadata.json")
	}
	var meta metadata.Metadata
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("metadata.json is not valid JSON: %v", err)
	}
	if meta.Version != trivydb.SchemaVersion {
		return fmt.Errorf("DB schema %d, this build needs %d: get the DB of schema %d (ghcr.io/aquasecurity/trivy-db:%d)", meta.Version, trivydb.SchemaVersion, trivydb.SchemaVersion, trivydb.SchemaVersion)
	}
	if meta.UpdatedAt.IsZero() {
		return fmt.Errorf("metadata.json has no UpdatedAt")
	}
	if _, err := os.Stat(trivydb.Path(dir)); err != nil {
		return fmt.Errorf("the artifact holds no trivy.db")
	}
	bdb, err := bolt.Open(trivydb.Path(dir), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("the artifact's trivy.db is corrupt: %v", err)
	}
	return bdb.Close()
}

// registryCause is rootCause without go-containerregistry's structured detail
// ("; map[Tag:2]") and Trivy's temporary paths, with a hint for refused credentials.
func registryCause(err error) string {
	msg := rootCause(err)
	if i := strings.Index(msg, "; map["); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "; [map["); i >= 0 {
		msg = msg[:i]
	}
	msg = tmpPath.ReplaceAllString(msg, "")
	if strings.Contains(msg, "UNAUTHORIZED") || strings.Contains(msg, "DENIED") {
		msg += " (log in with 'docker login' for that registry)"
	}
	if strings.Contains(msg, "MANIFEST_UNKNOWN") {
		msg += " (no DB artifact at that reference)"
	}
	return strings.TrimSpace(msg)
}

var tmpPath = regexp.MustCompile(`\S*/trivy-\d+/\S*:? ?`)

// rootCause strips Trivy's nested "x error: y error: ..." prefixes down to the last two
// parts, which name the actual failure.
func rootCause(err error) string {
	parts := strings.Split(strings.Join(strings.Fields(err.Error()), " "), ": ")
	if len(parts) > 3 {
		parts = parts[len(parts)-3:]
	}
	return strings.Join(parts, ": ")
}

// stallGuard is Trivy's HTTP transport with timeouts for a registry that accepts the
// connection and then never answers (Trivy's own only bounds the dial).
type stallGuard struct{ base xhttp.Transport }

func (s stallGuard) Build(opts ...xhttp.TransportOption) http.RoundTripper {
	return s.base.Build(append(opts, func(t *http.Transport) {
		t.ResponseHeaderTimeout = 30 * time.Second
		t.TLSHandshakeTimeout = 30 * time.Second
	})...)
}

// setTransport installs the HTTP transport Trivy uses for registries (process-wide).
func setTransport(insecure bool) {
	xhttp.SetDefaultTransport(stallGuard{xhttp.NewTransport(xhttp.Options{Timeout: 30 * time.Second, Insecure: insecure})})
}

// UpdateJavaDB downloads Trivy's Java DB (needed to scan .jar files) into
// CacheDir/java-db now, when Trivy's rule says so, from opts.JavaRepositories (else the
// repository the cached Java DB came from, else Trivy's), so that later scans work
// offline with --skip-db-update. Each repository is watched as the DB's are
// (dbwatch.go).
func UpdateJavaDB(ctx context.Context, opts DBOptions) error {
	repos, _, err := javaDBRepositories(opts)
	if err != nil {
		return err
	}
	dir := javaDBKind.dir(opts.CacheDir)
	before := readJavaDBStatus(opts.CacheDir)
	base := xhttp.NewTransport(xhttp.Options{Timeout: dbAnswerTimeout, Insecure: opts.Insecure})
	// Trivy's Java DB code makes its requests without a context: its transport is the
	// process-wide default one, watched here per repository.
	defer setTransport(opts.Insecure)
	octx, ocancel := context.WithTimeout(ctx, dbOverallTimeout)
	defer ocancel()
	var failures []string
	for _, ref := range repos {
		_, w := watchRepo(octx, ref.String(), "Java DB", base)
		xhttp.SetDefaultTransport(watchTransport{base: base, w: w})
		javadb.Init(opts.CacheDir, []name.Reference{ref}, false, opts.NoProgress, ftypes.RegistryOptions{Insecure: opts.Insecure})
		done := make(chan error, 1)
		go func() { done <- javadb.Update() }()
		var err error
		select {
		case err = <-done:
		case <-octx.Done():
			w.cancel(fmt.Errorf("no complete download within %s", dbOverallTimeout))
			err = <-done
		}
		cause := w.cause()
		w.stop()
		if err != nil && cause != nil {
			err = cause
		}
		if err == nil {
			if after := readJavaDBStatus(opts.CacheDir); after != nil && (before == nil || !after.DownloadedAt.Equal(before.DownloadedAt)) {
				_ = os.WriteFile(filepath.Join(dir, sourceFile), []byte(ref.String()+"\n"), 0o644)
			}
			return nil
		}
		failures = append(failures, fmt.Sprintf("%s: %s", ref, registryCause(err)))
		if octx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("cannot download the Java DB (%s): check the network, give a repository that serves it with --java-db-repository (or $%s, or db.java-repository in the policy), or import it with 'docker secscan db import --java-db FILE'",
		strings.Join(failures, "; "), engine.JavaDBRepositoryEnv)
}

// javaDBRepositories is where the Java DB comes from: opts.JavaRepositories, else the
// repository the cached Java DB came from, else Trivy's. skip is set when the cached
// Java DB was imported and no repository is set: it is used as it is, never replaced
// by a download from elsewhere.
func javaDBRepositories(opts DBOptions) (repos []name.Reference, skip bool, err error) {
	refs := opts.JavaRepositories
	if len(refs) == 0 {
		if st := readJavaDBStatus(opts.CacheDir); st != nil {
			switch {
			case strings.HasPrefix(st.Source, engine.ImportedSourcePrefix):
				skip = true
			case st.Source != "":
				if _, err := name.ParseReference(st.Source); err == nil {
					refs = []string{st.Source}
				}
			}
		}
	}
	repos, err = javaRepositories(refs)
	return repos, skip, err
}
