package scanner

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	javadbpkg "github.com/aquasecurity/trivy-java-db/pkg/db"
	"github.com/aquasecurity/trivy/pkg/db"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/javadb"
	"github.com/aquasecurity/trivy/pkg/oci"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/filelock"
)

// Media types of the layers of Trivy's DB artifacts (trivy pkg/db, pkg/javadb).
const (
	dbLayerMediaType     = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	javaDBLayerMediaType = "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip"
	javaDBFile           = "trivy-java.db" // trivy-java-db's file in CacheDir/java-db
)

// dbKind is what an import is of: the vulnerability DB or the Java DB.
type dbKind struct {
	what      string // for messages
	file      string // the DB file in the folder
	mediaType string // the layer of its OCI artifact
	archive   string // Trivy's name for the layer
	flag      string // "" or " --java-db"
	dir       func(cacheDir string) string
	validate  func(dir string) error
}

var (
	vulnDBKind = dbKind{what: "vulnerability DB", file: "trivy.db", mediaType: dbLayerMediaType, archive: "db.tar.gz",
		dir: db.Dir, validate: validateDB}
	javaDBKind = dbKind{what: "Java DB", file: javaDBFile, mediaType: javaDBLayerMediaType, archive: "javadb.tar.gz", flag: " --java-db",
		dir: func(c string) string { return filepath.Join(c, "java-db") }, validate: validateJavaDB}
)

// ImportDB checks the DB at path (Trivy's db.tar.gz, a folder with trivy.db and
// metadata.json, or an OCI image layout of the DB artifact, as oras, crane or skopeo
// save it; with javaDB the same for the Java DB) and makes it the cached one, under
// the same locks as a DB update: it is unpacked beside the cache's DB, checked (schema,
// metadata, the DB opens), and renamed into place, so the cache never holds half a DB
// and a bad input leaves the cached one as it was. The source recorded is "imported
// from PATH".
func ImportDB(ctx context.Context, cacheDir, path string, javaDB bool) (DBStatus, error) {
	k := vulnDBKind
	if javaDB {
		k = javaDBKind
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fi, err := os.Stat(path)
	if err != nil {
		return DBStatus{}, fmt.Errorf("%s: no such file or folder: give Trivy's %s, a folder with %s and metadata.json, or an OCI layout of the %s artifact", path, k.archive, k.file, k.what)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return DBStatus{}, fmt.Errorf("cache folder %s: %w", cacheDir, err)
	}
	unlock, err := filelock.LockContext(ctx, filepath.Join(cacheDir, "db.lock"), nil)
	if err != nil {
		return DBStatus{}, err
	}
	defer unlock()
	if javaDB {
		// Scans fetch the Java DB while they hold the layer cache: wait for them.
		unlockFanal, err := filelock.LockContext(ctx, filepath.Join(cacheDir, "fanal.lock"), func() {
			fmt.Fprintf(progressOut, "Waiting for another docker secscan that is using the cache %s ...\n", cacheDir)
		})
		if err != nil {
			return DBStatus{}, err
		}
		defer unlockFanal()
	}
	tmp, err := os.MkdirTemp(cacheDir, "db-import-")
	if err != nil {
		return DBStatus{}, fmt.Errorf("cache folder %s: %w", cacheDir, err)
	}
	defer os.RemoveAll(tmp)
	dbDir := filepath.Join(tmp, "db")

	if fi.IsDir() {
		err = importDir(ctx, k, path, dbDir)
	} else {
		err = importFile(ctx, k, path, tmp, dbDir)
	}
	if err == nil {
		err = k.validate(dbDir)
	}
	if err == nil {
		err = stampDownloadedAt(dbDir)
	}
	if err != nil {
		if strings.Contains(err.Error(), "no space left on device") {
			return DBStatus{}, fmt.Errorf("cannot import the %s from %s: no space left on the device of %s: free some space or use --cache-dir on another disk (the cached %s, if any, is unchanged)", k.what, path, cacheDir, k.what)
		}
		return DBStatus{}, fmt.Errorf("cannot import the %s from %s: %s (the cached %s, if any, is unchanged)", k.what, path, oneLine(err), k.what)
	}
	if err := installDB(dbDir, k.dir(cacheDir), engine.ImportedSourcePrefix+path); err != nil {
		return DBStatus{}, err
	}
	st, err := ReadDBStatus(cacheDir)
	if javaDB && errors.Is(err, ErrNoDB) {
		// The Java DB alone was imported.
		return st, nil
	}
	return st, err
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// importDir copies a DB folder (the DB file and metadata.json) or reads an OCI layout.
func importDir(ctx context.Context, k dbKind, dir, dst string) error {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err == nil {
		return importLayout(ctx, k, dir, dst)
	}
	_, errDB := os.Stat(filepath.Join(dir, k.file))
	_, errMeta := os.Stat(filepath.Join(dir, "metadata.json"))
	other := javaDBKind
	if k.file == javaDBFile {
		other = vulnDBKind
	}
	_, errOther := os.Stat(filepath.Join(dir, other.file))
	switch {
	case errDB != nil && errOther == nil:
		if other.flag == "" {
			return fmt.Errorf("the folder holds the %s (%s), not the %s: import it without --java-db", other.what, other.file, k.what)
		}
		return fmt.Errorf("the folder holds the %s (%s), not the %s: import it with 'docker secscan db import%s'", other.what, other.file, k.what, other.flag)
	case errDB != nil && errMeta != nil:
		return fmt.Errorf("the folder holds neither %s and metadata.json nor an OCI layout (oci-layout, index.json): give the db folder of a Trivy cache, Trivy's %s, or an OCI layout of the DB artifact", k.file, k.archive)
	case errDB != nil:
		return fmt.Errorf("the folder has metadata.json but no %s: copy the whole folder of a Trivy cache, or import %s", k.file, k.archive)
	case errMeta != nil:
		return fmt.Errorf("the folder has %s but no metadata.json: copy the whole folder of a Trivy cache (%s and metadata.json), or import %s", k.file, k.file, k.archive)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, f := range []string{k.file, "metadata.json"} {
		if err := copyFile(filepath.Join(dir, f), filepath.Join(dst, f)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// importFile reads Trivy's db.tar.gz (the layer of the DB artifact; a plain tar too),
// or a tar of an OCI layout (skopeo's oci-archive).
func importFile(ctx context.Context, k dbKind, path, tmp, dst string) error {
	names, err := tarNames(path)
	if err != nil {
		return fmt.Errorf("not a tar or tar.gz archive (%v): give Trivy's %s, a folder with %s and metadata.json, or an OCI layout of the %s artifact", err, k.archive, k.file, k.what)
	}
	if names["oci-layout"] && names["index.json"] {
		dir := filepath.Join(tmp, "layout")
		if err := untar(path, dir); err != nil {
			return err
		}
		return importLayout(ctx, k, dir, dst)
	}
	if !names[k.file] || !names["metadata.json"] {
		if k.file != javaDBFile && names[javaDBFile] {
			return fmt.Errorf("the archive holds the Java DB (%s), not the vulnerability DB: import it with 'docker secscan db import --java-db'", javaDBFile)
		}
		if k.file == javaDBFile && names["trivy.db"] {
			return errors.New("the archive holds the vulnerability DB (trivy.db), not the Java DB: import it without --java-db")
		}
		return fmt.Errorf("the archive is not Trivy's %s: it holds no %s and metadata.json at its root", k.archive, k.file)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) }, tarball.WithMediaType(types.MediaType(k.mediaType)))
	if err != nil {
		return err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: layer, MediaType: types.MediaType(k.mediaType),
		Annotations: map[string]string{"org.opencontainers.image.title": k.archive},
	})
	if err != nil {
		return err
	}
	return downloadArtifact(ctx, k, path, img, dst)
}

// downloadArtifact unpacks the artifact's single layer into dst with Trivy's own
// artifact code (media type check, file name, decompression).
func downloadArtifact(ctx context.Context, k dbKind, path string, img v1.Image, dst string) error {
	art := oci.NewArtifact(path, ftypes.RegistryOptions{}, oci.WithImage(img))
	if err := art.Download(ctx, dst, oci.DownloadOption{MediaType: k.mediaType, Filename: k.archive, Quiet: true}); err != nil {
		return errors.New(rootCause(err))
	}
	return nil
}

// tarNames lists the regular files at the root of a tar or tar.gz file (at most 1,000
// entries are read).
func tarNames(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, closeR, err := tarReader(f)
	if err != nil {
		return nil, err
	}
	defer closeR()
	tr := tar.NewReader(r)
	names := map[string]bool{}
	for i := 0; i < 1000; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n := strings.TrimPrefix(filepath.Clean(h.Name), "./")
		if h.Typeflag == tar.TypeReg && !strings.Contains(n, "/") {
			names[n] = true
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no files at its root")
	}
	return names, nil
}

func tarReader(f io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(f)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return gz, func() { gz.Close() }, nil
	}
	return br, func() {}, nil
}

// untar unpacks regular files and folders of a tar (tar.gz) into dir; names that are
// not local paths are refused.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, closeR, err := tarReader(f)
	if err != nil {
		return err
	}
	defer closeR()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the archive is damaged: %v", err)
		}
		n := filepath.Clean(h.Name)
		if !filepath.IsLocal(n) {
			return fmt.Errorf("the archive names %q, outside its root", h.Name)
		}
		p := filepath.Join(dir, n)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}

// importLayout finds the DB artifact in an OCI image layout (the image whose single
// layer has the DB's media type, through nested indexes), checks the layer's digest,
// and unpacks it.
func importLayout(ctx context.Context, k dbKind, dir, dst string) error {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return fmt.Errorf("not an OCI layout: %v", err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return fmt.Errorf("the OCI layout has no readable index.json: %v", err)
	}
	img, other, err := findArtifact(idx, k.mediaType, 0)
	if err != nil {
		return fmt.Errorf("the OCI layout is damaged: %v", err)
	}
	if img == nil {
		if other != "" {
			return fmt.Errorf("the OCI layout holds no %s artifact (layer %s) but %s", k.what, k.mediaType, other)
		}
		return fmt.Errorf("the OCI layout holds no %s artifact (no image with a single layer of media type %s)", k.what, k.mediaType)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	d, err := layers[0].Digest()
	if err != nil {
		return err
	}
	if err := checkBlob(lp, d); err != nil {
		return err
	}
	return downloadArtifact(ctx, k, dir, img, dst)
}

// findArtifact walks an index to the first image whose single layer has mediaType;
// other names the artifact found instead, if any.
func findArtifact(idx v1.ImageIndex, mediaType string, depth int) (v1.Image, string, error) {
	if depth > 4 {
		return nil, "", errors.New("indexes nested too deep")
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	other := ""
	for _, desc := range im.Manifests {
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return nil, "", err
			}
			img, o, err := findArtifact(child, mediaType, depth+1)
			if err != nil || img != nil {
				return img, o, err
			}
			if other == "" {
				other = o
			}
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return nil, "", err
			}
			m, err := img.Manifest()
			if err != nil {
				return nil, "", err
			}
			if len(m.Layers) != 1 {
				continue
			}
			switch mt := string(m.Layers[0].MediaType); mt {
			case mediaType:
				return img, "", nil
			case javaDBLayerMediaType:
				other = "the Java DB's: import it with 'docker secscan db import --java-db'"
			case dbLayerMediaType:
				other = "the vulnerability DB's: import it without --java-db"
			}
		}
	}
	return nil, other, nil
}

// checkBlob compares a layout's blob with its digest (a remote download does so; a
// copied folder may be cut short).
func checkBlob(lp layout.Path, d v1.Hash) error {
	rc, err := lp.Blob(d)
	if err != nil {
		return fmt.Errorf("the OCI layout lacks the blob %s: copy the layout again", d)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return err
	}
	if d.Algorithm == "sha256" && hex.EncodeToString(h.Sum(nil)) != d.Hex {
		return fmt.Errorf("the blob %s of the OCI layout does not match its digest: copy the layout again", d)
	}
	return nil
}

// stampDownloadedAt sets metadata.json's DownloadedAt to now, as Trivy does after a
// download (both DBs' metadata has the field).
func stampDownloadedAt(dir string) error {
	p := filepath.Join(dir, "metadata.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("metadata.json is not valid JSON: %v", err)
	}
	m["DownloadedAt"] = time.Now().UTC()
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(p, out, 0o644)
}

// validateJavaDB checks that dir holds a Java DB of the schema this build reads that
// SQLite opens and that has trivy-java-db's tables.
func validateJavaDB(dir string) error {
	mc := javadbpkg.NewMetadata(dir)
	meta, err := mc.Get()
	if err != nil {
		return fmt.Errorf("metadata.json is missing or unreadable")
	}
	if meta.Version != javadb.SchemaVersion {
		return fmt.Errorf("Java DB schema %d, this build needs %d", meta.Version, javadb.SchemaVersion)
	}
	if meta.UpdatedAt.IsZero() {
		return errors.New("metadata.json has no UpdatedAt")
	}
	p := filepath.Join(dir, javaDBFile)
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("no %s", javaDBFile)
	}
	sdb, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
	if err != nil {
		return fmt.Errorf("%s does not open: %v", javaDBFile, err)
	}
	defer sdb.Close()
	var n int
	if err := sdb.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('artifacts', 'indices')").Scan(&n); err != nil {
		return fmt.Errorf("%s is not a SQLite database: %s", javaDBFile, rootCause(err))
	}
	if n != 2 {
		return fmt.Errorf("%s lacks the tables of a Java DB (artifacts, indices)", javaDBFile)
	}
	return nil
}

// readJavaDBStatus reads the Java DB's metadata and recorded source (nil: none).
func readJavaDBStatus(cacheDir string) *engine.JavaDBStatus {
	dir := javaDBKind.dir(cacheDir)
	mc := javadbpkg.NewMetadata(dir)
	meta, err := mc.Get()
	if err != nil {
		return nil
	}
	st := &engine.JavaDBStatus{Path: filepath.Join(dir, javaDBFile)}
	st.SchemaVersion, st.UpdatedAt, st.NextUpdate, st.DownloadedAt = meta.Version, meta.UpdatedAt, meta.NextUpdate, meta.DownloadedAt
	if b, err := os.ReadFile(filepath.Join(dir, sourceFile)); err == nil {
		st.Source = strings.TrimSpace(string(b))
	}
	return st
}
