package scanner

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	"github.com/aquasecurity/trivy/pkg/fanal/handler"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/fanal/walker"
	"github.com/aquasecurity/trivy/pkg/semaphore"
	xslices "github.com/aquasecurity/trivy/pkg/x/slices"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	gcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/docker-secscan/docker-secscan/internal/dockerarchive"
	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// trivyArtifactVersion is the artifactVersion constant of Trivy's image artifact
// (pkg/fanal/artifact/image), part of its layer cache keys. Were it to differ, Trivy's
// own Inspect would find the layers this package analysed missing and ask for their
// content, which a streamed image does not keep: the scan fails, it never passes.
const trivyArtifactVersion = 1

// maxConfigSize bounds the image config read from an archive (configs are kilobytes;
// this only keeps a broken archive from filling memory).
const maxConfigSize = 8 << 20

// layerPlan is what the analysis of one image needs, computed before its archive is read.
type layerPlan struct {
	analyzer analyzer.AnalyzerGroup
	handlers handler.Manager
	walker   walker.LayerTar
	opt      artifact.Option
	diffIDs  []string          // the layers the daemon listed (may be empty: unknown)
	missing  map[string]string // diff ID -> layer cache key, for layers to analyse
	config   []byte            // the cached config of the image (nil: not analysed before)
}

// needsArchive reports whether the scan must read the image: unless its config is
// cached and every layer is in the layer cache.
func (p *layerPlan) needsArchive() bool {
	return p.config == nil || len(p.missing) > 0 || len(p.diffIDs) == 0
}

// blobKey is Trivy's layer cache key of a diff ID (artifact/image.calcCacheKeys).
func (p *layerPlan) blobKey(diffID string) (string, error) {
	return cache.CalcKey(diffID, trivyArtifactVersion, p.analyzer.AnalyzerVersions(), p.handlers.Versions(), p.opt)
}

// plan works out, before the archive is read, which layers of img must be analysed:
// the diff IDs come from the cached config of img when there is one (an image
// analysed before), else from the daemon's inspect (img.DiffIDs); those whose Trivy
// cache key is missing from the layer cache are to be analysed.
func (s *Scanner) plan(ctx context.Context, img Image, opt artifact.Option) (*layerPlan, error) {
	ag, err := analyzer.NewAnalyzerGroup(opt.AnalyzerOptions())
	if err != nil {
		return nil, fmt.Errorf("prepare the analysers: %v", err)
	}
	hm, err := handler.NewManager(opt)
	if err != nil {
		return nil, fmt.Errorf("prepare the analysers: %v", err)
	}
	p := &layerPlan{analyzer: ag, handlers: hm, walker: walker.NewLayerTar(opt.WalkerOption), opt: opt, missing: map[string]string{}}
	p.diffIDs = img.DiffIDs
	if raw, err := s.cachedConfig(img.ID); err == nil {
		if cfg, err := v1.ParseConfigFile(bytes.NewReader(raw)); err == nil {
			p.diffIDs, p.config = xslices.Map(cfg.RootFS.DiffIDs, v1.Hash.String), raw
		}
	}
	byKey := map[string]string{}
	var keys []string
	for _, d := range p.diffIDs {
		k, err := p.blobKey(d)
		if err != nil {
			return nil, err
		}
		byKey[k] = d
		keys = append(keys, k)
	}
	_, missing, err := s.cache.MissingBlobs(ctx, "", keys)
	if err != nil {
		return nil, fmt.Errorf("read the layer cache: %v", err)
	}
	for _, k := range missing {
		p.missing[byKey[k]] = k
	}
	return p, nil
}

// configPath is where the config of an image analysed before is kept, so that a
// re-scan against a new DB needs no image export when every layer is in the layer cache.
func (s *Scanner) configPath(id string) string {
	return engine.ImageConfigPath(s.opts.DB.CacheDir, id)
}

// cachedConfig returns the cached config of image id, checked against the ID (its digest).
func (s *Scanner) cachedConfig(id string) ([]byte, error) {
	if !strings.HasPrefix(id, "sha256:") {
		return nil, os.ErrNotExist
	}
	raw, err := os.ReadFile(s.configPath(id))
	if err != nil {
		return nil, err
	}
	if dockerarchive.Digest(raw) != id {
		return nil, fmt.Errorf("cached config of %s is damaged", id)
	}
	now := time.Now() // pruning goes by last use
	_ = os.Chtimes(s.configPath(id), now, now)
	return raw, nil
}

// ingested is what reading an image archive gave.
type ingested struct {
	config []byte                     // the image config, its digest checked against the image ID
	seen   map[string]bool            // diff IDs of the layers in the archive
	blobs  map[string]ftypes.BlobInfo // analysed layers by diff ID (Trivy's BlobInfo, no CreatedBy yet)
}

// ingest reads a `docker save` archive (Docker's legacy layout, or the OCI image
// layout Docker 25+ writes, with uncompressed, gzip or zstd layers) from r in one pass,
// as the daemon streams it. Layers the plan lists as missing are analysed as they go
// by, with Trivy's analysers, walker and post-handlers exactly as Trivy's image
// artifact does (inspectLayer); other layers are only hashed. A layer whose diff ID is
// not known before it is read (the legacy layout names layers by v1 ID) is analysed
// when some layer is missing, and its result kept only if its diff ID turns out to be
// missing. Nothing is written to disk but Trivy's post-analysis temporary files.
func (s *Scanner) ingest(ctx context.Context, r io.Reader, imageID string, p *layerPlan) (*ingested, error) {
	out := &ingested{seen: map[string]bool{}, blobs: map[string]ftypes.BlobInfo{}}
	idHex := strings.TrimPrefix(imageID, "sha256:")
	legacy := map[string]string{} // v1 ID -> diff ID, see dockerarchive.LegacyLayerDiffID
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the image archive: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue // directories; a layer.tar symlink repeats a layer already listed
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		base := path.Base(name)
		dir := path.Dir(name)
		switch {
		case (dir == "." && base == idHex+".json") || name == "blobs/sha256/"+idHex:
			if hdr.Size > maxConfigSize {
				return nil, fmt.Errorf("the image config in the archive is %d bytes, more than %d", hdr.Size, maxConfigSize)
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxConfigSize+1))
			if err != nil {
				return nil, fmt.Errorf("read the image archive: %v", err)
			}
			out.config = b
		case base == "json" && dir != "." && !strings.Contains(dir, "/") && len(p.diffIDs) > 0:
			// Legacy layout: "<v1 ID>/json" comes before "<v1 ID>/layer.tar".
			if b, err := io.ReadAll(io.LimitReader(tr, maxConfigSize)); err == nil {
				if d := dockerarchive.LegacyLayerDiffID(dir, b, p.diffIDs); d != "" {
					legacy[dir] = d
				}
			}
		case base == "layer.tar" && dir != ".":
			if err := s.ingestLayer(ctx, tr, legacy[dir], "", p, out); err != nil {
				return nil, err
			}
		case dir == "blobs/sha256" && len(base) == 64:
			if err := s.ingestBlob(ctx, tr, "sha256:"+base, hdr.Size, p, out); err != nil {
				return nil, err
			}
		}
	}
	// The daemon's stream may end with padding after the tar's end marker.
	_, _ = io.Copy(io.Discard, r)
	if out.config == nil {
		return nil, fmt.Errorf("the image archive holds no config for image %s: it is not a docker save archive of that image", imageID)
	}
	if got := dockerarchive.Digest(out.config); imageID != "" && got != imageID {
		return nil, fmt.Errorf("the image exported has config %s, expected %s: the image changed during the scan", got, imageID)
	}
	return out, nil
}

// ingestBlob handles one blob of an OCI image layout. Its name is the digest of its
// content: an uncompressed layer is named by its diff ID; a compressed one (containerd
// image store) is recognised by its magic bytes and its diff ID learnt by reading it.
func (s *Scanner) ingestBlob(ctx context.Context, r io.Reader, digest string, size int64, p *layerPlan, out *ingested) error {
	if _, ok := p.missing[digest]; ok || slices.Contains(p.diffIDs, digest) {
		return s.ingestLayer(ctx, r, digest, "", p, out)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("read layer %s of the image archive: %v", digest, err)
		}
		defer zr.Close()
		return s.ingestLayer(ctx, zr, "", digest, p, out)
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return fmt.Errorf("read layer %s of the image archive: %v", digest, err)
		}
		defer zr.Close()
		return s.ingestLayer(ctx, zr, "", digest, p, out)
	case len(magic) > 0 && magic[0] == '{' && size <= maxConfigSize:
		return nil // a manifest, index or another image's config
	case len(p.missing) > 0 || len(p.diffIDs) == 0:
		// An uncompressed layer the daemon did not list: learn its diff ID.
		return s.ingestLayer(ctx, br, "", "", p, out)
	}
	return nil
}

// ingestLayer reads one uncompressed layer. diffID is the layer's diff ID when the
// archive names it (the blob digest of the OCI layout, or the v1 ID of the legacy
// layout, see dockerarchive.LegacyLayerDiffID), "" otherwise: the layer is then hashed
// as it is read to learn its diff ID. A named layer is not hashed again (that would
// cost a core for a second per GB, on the path every byte of the image takes): the
// names come from the daemon, and the config they derive from is checked against the
// image ID. compressed is the digest of the compressed blob it came from ("" for
// none), which Trivy records as the layer digest.
func (s *Scanner) ingestLayer(ctx context.Context, r io.Reader, diffID, compressed string, p *layerPlan, out *ingested) error {
	analyse := len(p.missing) > 0 || len(p.diffIDs) == 0
	var h hash.Hash
	if diffID != "" {
		_, analyse = p.missing[diffID]
	} else {
		h = sha256.New()
		r = io.TeeReader(r, h)
	}
	var blob ftypes.BlobInfo
	if analyse {
		var err error
		if blob, err = s.analyseLayer(ctx, r, p); err != nil {
			return err
		}
	}
	if !analyse && h == nil {
		out.seen[diffID] = true
		slog.Debug("Layer found in the layer cache: not analysed", "diff_id", diffID)
		return nil // the archive reader skips the rest of the layer
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return fmt.Errorf("read the image archive: %v", err)
	}
	got := diffID
	if h != nil {
		got = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	out.seen[got] = true
	if !analyse {
		slog.Debug("Layer found in the layer cache: not analysed", "diff_id", got)
		return nil
	}
	slog.Debug("Layer analysed", "diff_id", got, "bytes", n+blob.Size)
	if _, want := p.missing[got]; want || len(p.diffIDs) == 0 {
		blob.DiffID = got
		blob.Digest = compressed
		blob.Size += n
		out.blobs[got] = blob
	}
	return nil
}

// analyseLayer is Trivy's artifact/image inspectLayer on a layer read from r: the
// same analysers, options, post-analysis and post-handlers, so the BlobInfo (and the
// findings) equal what `trivy image` records for the layer. Size counts the bytes
// the walk read; the caller adds what is left and sets DiffID.
func (s *Scanner) analyseLayer(ctx context.Context, r io.Reader, p *layerPlan) (ftypes.BlobInfo, error) {
	cr := &countingReader{r: r}
	eg, egCtx := errgroup.WithContext(ctx)
	opts := analyzer.AnalysisOptions{Offline: p.opt.Offline, FileChecksum: p.opt.FileChecksum}
	result := analyzer.NewAnalysisResult()
	limit := semaphore.New(p.opt.Parallel)
	composite, err := p.analyzer.PostAnalyzerFS()
	if err != nil {
		return ftypes.BlobInfo{}, fmt.Errorf("prepare the post-analysis: %v", err)
	}
	defer func() { _ = composite.Cleanup() }()
	opqDirs, whFiles, walkErr := p.walker.Walk(cr, func(filePath string, info os.FileInfo, opener analyzer.Opener) error {
		if err := p.analyzer.AnalyzeFile(egCtx, eg, limit, result, "", filePath, info, opener, nil, opts); err != nil {
			return fmt.Errorf("analyse %s: %w", filePath, err)
		}
		types := p.analyzer.RequiredPostAnalyzers(filePath, info)
		if len(types) == 0 {
			return nil
		}
		tmp, err := composite.CopyFileToTemp(opener, info)
		if err != nil {
			return fmt.Errorf("copy %s for post-analysis: %w", filePath, err)
		}
		return composite.CreateLink(types, "", filePath, tmp)
	})
	if err := eg.Wait(); err != nil {
		return ftypes.BlobInfo{}, layerError{err}
	}
	if walkErr != nil {
		return ftypes.BlobInfo{}, fmt.Errorf("read a layer of the image archive: %v", rootCause(walkErr))
	}
	if err := p.analyzer.PostAnalyze(ctx, composite, result, opts); err != nil {
		return ftypes.BlobInfo{}, layerError{err}
	}
	result.Sort()
	blob := ftypes.BlobInfo{
		SchemaVersion:     ftypes.BlobJSONSchemaVersion,
		Size:              cr.n,
		OpaqueDirs:        opqDirs,
		WhiteoutFiles:     whFiles,
		OS:                result.OS,
		Repository:        result.Repository,
		PackageInfos:      result.PackageInfos,
		Applications:      result.Applications,
		Misconfigurations: result.Misconfigurations,
		Secrets:           result.Secrets,
		Licenses:          result.Licenses,
		CustomResources:   result.CustomResources,
		BuildInfo:         result.BuildInfo,
	}
	if err := p.handlers.PostHandle(ctx, result, &blob); err != nil {
		return ftypes.BlobInfo{}, layerError{err}
	}
	return blob, nil
}

// layerError is a failed layer analysis: its message is the root cause, its chain
// (Error of the whole, via Unwrap) keeps Trivy's context for javaDBHint.
type layerError struct{ err error }

func (e layerError) Error() string { return "analyse a layer: " + rootCause(e.err) }
func (e layerError) Unwrap() error { return e.err }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// store puts the analysed layers into Trivy's layer cache under Trivy's keys, with the
// "created by" of their history entry (artifact/image.consolidateCreatedBy), and keeps
// the config for later scans. Every layer of the config must be in the archive.
func (s *Scanner) store(ctx context.Context, p *layerPlan, in *ingested, cfg *v1.ConfigFile, imageID string) error {
	diffIDs := xslices.Map(cfg.RootFS.DiffIDs, v1.Hash.String)
	var createdBy []string
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		c := strings.TrimPrefix(h.CreatedBy, "/bin/sh -c ")
		createdBy = append(createdBy, strings.TrimPrefix(c, "#(nop) "))
	}
	for i, d := range diffIDs {
		if !in.seen[d] {
			return fmt.Errorf("the image archive lacks layer %s of image %s: it is not a complete docker save archive", d, imageID)
		}
		key, err := p.blobKey(d)
		if err != nil {
			return err
		}
		blob, ok := in.blobs[d]
		if !ok {
			continue // in the layer cache already
		}
		if len(createdBy) == len(diffIDs) {
			blob.CreatedBy = createdBy[i]
		}
		if err := s.cache.PutBlob(ctx, key, blob); err != nil {
			return fmt.Errorf("write the layer cache: %v", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(s.configPath(imageID)), 0o700); err == nil {
		tmp := s.configPath(imageID) + ".tmp"
		if os.WriteFile(tmp, in.config, 0o600) == nil {
			_ = os.Rename(tmp, s.configPath(imageID))
		}
	}
	return nil
}

// errLayerNotKept is what a streamed image answers when Trivy asks for layer content
// after the stream: every layer it needs was analysed and cached by then.
var errLayerNotKept = errors.New("layer content is not kept after the image stream (internal: layer cache keys differ from Trivy's)")

// streamedImage is an image whose archive has been read: its config is known, its
// layers are in Trivy's layer cache, their content is gone. It satisfies Trivy's
// ftypes.Image for Trivy's image artifact, which then only reads the config.
type streamedImage struct {
	ref Image
	raw []byte
	cfg *v1.ConfigFile
}

func (i *streamedImage) Name() string          { return i.ref.Reference }
func (i *streamedImage) ID() (string, error)   { return i.ref.ID, nil }
func (i *streamedImage) RepoTags() []string    { return i.ref.RepoTags }
func (i *streamedImage) RepoDigests() []string { return i.ref.RepoDigests }

func (i *streamedImage) Layers() ([]v1.Layer, error) { return nil, errLayerNotKept }
func (i *streamedImage) MediaType() (gcrtypes.MediaType, error) {
	return gcrtypes.DockerManifestSchema2, nil
}
func (i *streamedImage) Size() (int64, error)                { return 0, errLayerNotKept }
func (i *streamedImage) ConfigName() (v1.Hash, error)        { return v1.NewHash(i.ref.ID) }
func (i *streamedImage) ConfigFile() (*v1.ConfigFile, error) { return i.cfg.DeepCopy(), nil }
func (i *streamedImage) RawConfigFile() ([]byte, error)      { return i.raw, nil }
func (i *streamedImage) Digest() (v1.Hash, error)            { return v1.Hash{}, errLayerNotKept }
func (i *streamedImage) Manifest() (*v1.Manifest, error)     { return nil, errLayerNotKept }
func (i *streamedImage) RawManifest() ([]byte, error)        { return nil, errLayerNotKept }
func (i *streamedImage) LayerByDigest(v1.Hash) (v1.Layer, error) {
	return nil, errLayerNotKept
}
func (i *streamedImage) LayerByDiffID(v1.Hash) (v1.Layer, error) {
	return nil, errLayerNotKept
}

var _ ftypes.Image = (*streamedImage)(nil)
