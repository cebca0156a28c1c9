// Package engine is the boundary between the thin plugin binary (docker-secscan: CLI,
// policy, push, publishing, hooks; no Trivy) and the scan engine binary
// (secscan-engine: Trivy). It holds the types both sides share and the client that
// runs the engine: one request as JSON on the engine's stdin, one response as JSON on
// its stdout, progress and logs on its stderr.
//
// The split keeps Trivy's ~1,200 package initialisers and ~160 MB of start-up memory
// out of every `docker --help`, hook call and metadata query (design notes, fact 14).
package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// TrivyVersion is the Trivy library version the engine links (see go.mod).
const TrivyVersion = "v0.74.0"

// DBSchemaVersion is the vulnerability DB schema the engine reads (trivy-db's
// SchemaVersion; a test in package scanner checks they agree).
const DBSchemaVersion = 2

// JavaDBSchemaVersion is the Java DB schema (trivy's javadb.SchemaVersion).
const JavaDBSchemaVersion = 1

// Formats lists the report formats the engine renders with Trivy's writers.
var Formats = []string{"json", "sarif", "cyclonedx", "cosign-vuln"}

// ValidFormat reports whether f is one of Formats.
func ValidFormat(f string) bool { return slices.Contains(Formats, f) }

// DefaultDBRepositories are Trivy's default DB repositories, tried in order.
var DefaultDBRepositories = []string{"mirror.gcr.io/aquasec/trivy-db", "ghcr.io/aquasecurity/trivy-db"}

// DefaultJavaDBRepositories are Trivy's default Java DB repositories.
var DefaultJavaDBRepositories = []string{"mirror.gcr.io/aquasec/trivy-java-db", "ghcr.io/aquasecurity/trivy-java-db"}

// Environment variables that set the DB repositories (comma-separated, as Trivy's
// TRIVY_DB_REPOSITORY): they win over the policy file and lose to the flags.
const (
	DBRepositoryEnv     = "SECSCAN_DB_REPOSITORY"
	JavaDBRepositoryEnv = "SECSCAN_JAVA_DB_REPOSITORY"
)

// ImportedSourcePrefix starts the recorded source of an imported DB ("imported from
// PATH"); any other recorded source is the OCI reference the DB was downloaded from.
const ImportedSourcePrefix = "imported from "

// DBOptions says where the vulnerability DB lives and where it comes from.
type DBOptions struct {
	// CacheDir is the cache root; the DB lives in CacheDir/db (Trivy's layout).
	CacheDir string `json:"cacheDir"`
	// Repositories are OCI repositories holding Trivy's DB artifact, tried in order.
	// A reference without a tag gets the schema version tag (":2"), as Trivy's CLI does.
	// Empty means DefaultDBRepositories.
	Repositories []string `json:"repositories,omitempty"`
	// JavaRepositories are the same for Trivy's Java DB (needed only for .jar files).
	JavaRepositories []string `json:"javaRepositories,omitempty"`
	// RepositoriesFrom and JavaRepositoriesFrom say where Repositories and
	// JavaRepositories were set ("--db-repository", "$SECSCAN_DB_REPOSITORY", "FILE
	// db.repository"), for messages; empty when not set.
	RepositoriesFrom     string `json:"repositoriesFrom,omitempty"`
	JavaRepositoriesFrom string `json:"javaRepositoriesFrom,omitempty"`
	// SkipUpdate uses the cached DB as it is; it fails when there is none.
	SkipUpdate bool `json:"skipUpdate,omitempty"`
	// Insecure skips TLS verification for the DB registries.
	Insecure bool `json:"insecure,omitempty"`
	// NoProgress hides the download progress bar.
	NoProgress bool `json:"noProgress,omitempty"`
}

// DBStatus describes the DB in the cache.
type DBStatus struct {
	report.DB
	Path   string `json:"path"`   // the trivy.db file
	Source string `json:"source"` // the OCI reference it was downloaded from, "imported from PATH", or "" if unknown
	// JavaDB is the Java DB in the cache, if any.
	JavaDB *JavaDBStatus `json:"javaDB,omitempty"`
}

// JavaDBStatus describes the Java DB in the cache.
type JavaDBStatus struct {
	report.DB
	Path   string `json:"path"`
	Source string `json:"source"`
}

// Image names the image to scan and what the local store knows of it. Its archive (a
// `docker save` tar of exactly that image) is either the file ArchivePath or, when that
// is empty, streamed on the engine's stdin after the request (see ScanReady).
type Image struct {
	ArchivePath string `json:"archivePath,omitempty"` // docker save tar (or .tar.gz) of one image
	Reference   string `json:"reference"`             // the reference the user gave
	// ID is the local image ID from the daemon: a config digest (classic image store)
	// or the digest of an image index or manifest (containerd image store). The engine
	// follows it to the configs (see dockerarchive.Resolve) and never reads an index
	// or manifest as a config.
	ID string `json:"id"`
	// Platform ("linux/arm64", "" for all) limits the scan to that platform's image,
	// as `docker push --platform` limits the push; "" scans every platform image the ID
	// names that the archive holds (what a push sends).
	Platform string `json:"platform,omitempty"`
	// DiffIDs are layer diff IDs from the daemon's inspect (a hint: the configs
	// decide), and DiffIDsComplete says they are every layer of the image to scan
	// (a single-platform image), so that no layer of unknown diff ID is analysed on spec.
	DiffIDs         []string `json:"diffIDs,omitempty"`
	DiffIDsComplete bool     `json:"diffIDsComplete,omitempty"`
	// Available lists the manifest digests of the platform images the daemon holds
	// (containerd store; empty when unknown): a kept record of the image that lacks
	// one of them is not used, and an export that lacks one is an error.
	Available   []string `json:"available,omitempty"`
	RepoTags    []string `json:"repoTags,omitempty"`    // from the daemon's inspect
	RepoDigests []string `json:"repoDigests,omitempty"` // from the daemon's inspect
}

// Suppression names one finding that an exception or VEX statement suppressed, for
// Trivy's writers (Trivy's ExperimentalModifiedFindings).
type Suppression struct {
	Finding   report.Finding `json:"finding"`
	Status    string         `json:"status"`    // "ignored" or "not_affected" (Trivy's FindingStatus values)
	Statement string         `json:"statement"` // the reason
	Source    string         `json:"source"`    // where the exception came from, e.g. ".secscan.yaml:12"
}

// ParseDBRepositories parses OCI references to DB artifacts and appends the schema
// version as the tag where none is given (Trivy's CLI behaviour). flagName names the
// flag in errors.
func ParseDBRepositories(refs []string, flagName string, schema int) ([]name.Reference, error) {
	var out []name.Reference
	for _, s := range refs {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, fmt.Errorf("--%s is empty: give REGISTRY/REPOSITORY[:TAG]", flagName)
		}
		if i := strings.Index(s, "://"); i >= 0 {
			// A URL: never echo credentials it may carry.
			shown := s
			if at := strings.LastIndex(s, "@"); at > i {
				shown = s[:i+3] + "***@" + s[at+1:]
			}
			return nil, fmt.Errorf("--%s %q is a URL: give REGISTRY/REPOSITORY[:TAG] without a scheme or credentials (credentials come from 'docker login'; 127.0.0.1 and localhost use plain HTTP, --insecure allows it elsewhere)", flagName, shown)
		}
		if _, err := name.NewRepository(s); err == nil {
			s = fmt.Sprintf("%s:%d", s, schema)
		}
		ref, err := name.ParseReference(s)
		if err != nil {
			return nil, fmt.Errorf("--%s %q is not an OCI reference: give REGISTRY/REPOSITORY[:TAG]", flagName, s)
		}
		out = append(out, ref)
	}
	return out, nil
}
