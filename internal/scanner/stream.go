package scanner

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aquasecurity/trivy/pkg/cache"
	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	"github.com/aquasecurity/trivy/pkg/fanal/handler"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/fanal/walker"
	"github.com/aquasecurity/trivy/pkg/semaphore"
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

// maxJSONBlobSize bounds a JSON blob (index, manifest, config, attestation statement)
// kept from an archive (they are kilobytes; this only keeps a broken archive from
// filling memory). A larger blob is read as a layer.
const maxJSONBlobSize = 8 << 20

// layerPlan is what the analysis of one image needs, computed before its archive is
// read and refined while it is read.
type layerPlan struct {
	analyzer analyzer.AnalyzerGroup
	handlers handler.Manager
	walker   walker.LayerTar
	opt      artifact.Option
	cache    cache.ArtifactCache
	// diffIDs are the layers known before reading: from the cached record of the
	// image, else from the daemon's inspect (may be empty: unknown).
	diffIDs []string
	// complete says diffIDs hold every layer of every image to scan (a record, or
	// the daemon said so), so a layer of unknown diff ID need not be analysed on spec.
	complete bool
	missing  map[string]string // diff ID -> layer cache key, for layers to analyse
	cached   map[string]bool   // diff IDs whose analysis is in the layer cache
	// layerDiff maps a manifest's layer digest (a compressed blob) to its diff ID:
	// from the layer map of earlier scans (see layerMap), the record, or learnt as
	// manifests and configs go by.
	layerDiff map[string]string
	// layerMap is the layer map as read from the cache folder (see layerMapFile).
	layerMap map[string]string
	// record is the image's record from an earlier scan that resolves to every
	// platform image asked for (nil: none usable).
	record imageRecord
	// claims coordinate the analysis of layers with other runners (nil: none).
	claims *layerClaims
}

// stored reports whether the analysis of layer d is in the layer cache now.
func (p *layerPlan) stored(ctx context.Context, d string) bool {
	k, err := p.blobKey(d)
	if err != nil {
		return false
	}
	_, miss, err := p.cache.MissingBlobs(ctx, "", []string{k})
	return err == nil && len(miss) == 0
}

// nowCached notes that another runner put layer d's analysis in the cache.
func (p *layerPlan) nowCached(d string) {
	delete(p.missing, d)
	p.cached[d] = true
}

// needsArchive reports whether the scan must read the image: unless its record (the
// index, manifests and configs) is cached and every layer is in the layer cache.
func (p *layerPlan) needsArchive() bool {
	return p.record == nil || len(p.missing) > 0 || !p.complete || len(p.diffIDs) == 0
}

// blobKey is Trivy's layer cache key of a diff ID (artifact/image.calcCacheKeys).
func (p *layerPlan) blobKey(diffID string) (string, error) {
	return cache.CalcKey(diffID, trivyArtifactVersion, p.analyzer.AnalyzerVersions(), p.handlers.Versions(), p.opt)
}

// learn finds out, for diff IDs not known yet, whether the layer cache holds them.
func (p *layerPlan) learn(ctx context.Context, diffIDs ...string) error {
	byKey := map[string]string{}
	var keys []string
	for _, d := range diffIDs {
		if _, ok := p.missing[d]; ok || p.cached[d] {
			continue
		}
		k, err := p.blobKey(d)
		if err != nil {
			return err
		}
		byKey[k] = d
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	_, missing, err := p.cache.MissingBlobs(ctx, "", keys)
	if err != nil {
		return fmt.Errorf("read the layer cache: %w", err)
	}
	for _, k := range keys {
		p.cached[byKey[k]] = true
	}
	for _, k := range missing {
		delete(p.cached, byKey[k])
		p.missing[byKey[k]] = k
	}
	return nil
}

// known reports whether d is a diff ID the plan knows.
func (p *layerPlan) known(d string) bool {
	_, ok := p.missing[d]
	return ok || p.cached[d]
}

// plan works out, before the archive is read, which layers of img must be analysed:
// the diff IDs come from the cached record of img when there is one (an image
// analysed before: every platform's layers, and which compressed blob holds which),
// else from the daemon's inspect (img.DiffIDs); those whose Trivy cache key is
// missing from the layer cache are to be analysed.
func (s *Scanner) plan(ctx context.Context, img Image, opt artifact.Option) (*layerPlan, error) {
	ag, err := analyzer.NewAnalyzerGroup(opt.AnalyzerOptions())
	if err != nil {
		return nil, fmt.Errorf("prepare the analysers: %v", err)
	}
	hm, err := handler.NewManager(opt)
	if err != nil {
		return nil, fmt.Errorf("prepare the analysers: %v", err)
	}
	p := &layerPlan{analyzer: ag, handlers: hm, walker: walker.NewLayerTar(opt.WalkerOption), opt: opt, cache: s.cache,
		missing: map[string]string{}, cached: map[string]bool{}, layerMap: s.readLayerMap(), claims: s.claims}
	p.layerDiff = maps.Clone(p.layerMap)
	p.diffIDs, p.complete = img.DiffIDs, img.DiffIDsComplete && len(img.DiffIDs) > 0
	if rec, err := s.cachedRecord(img.ID); err == nil {
		// All platforms, for the blob map; the platform asked for, for what is needed.
		all, aerr := dockerarchive.Resolve(img.ID, rec.get, "")
		want, werr := dockerarchive.Resolve(img.ID, rec.get, img.Platform)
		// A record made when the store held fewer platform images of the same ID
		// (one pulled or loaded since) is not used: the new one must be read.
		if aerr == nil && werr == nil && len(missingManifests(all, img.Available)) == 0 {
			p.record = rec
			p.diffIDs, p.complete = want.AllDiffIDs(), true
			maps.Copy(p.layerDiff, all.LayerDiffIDs())
		}
	}
	if err := p.learn(ctx, p.diffIDs...); err != nil {
		return nil, err
	}
	return p, nil
}

// layerMapFile, in the cache folder, maps compressed layer digests (as manifests name
// them) to diff IDs, learnt from every image analysed: a new image built on a known
// base (the containerd image store keeps the base's compressed blobs as they are) has
// its cached layers recognised by name in the export and skipped unread, though its
// own manifest and config, which say the same, come later in the archive (the OCI
// layout orders blobs by digest). The scan holds the layer cache lock while it reads
// and writes the file.
const layerMapFile = "layer-digests.json"

// maxLayerMap bounds the layer map (about 150 bytes an entry, read on every scan);
// past it, the map starts again from the current image's layers.
const maxLayerMap = 50_000

func (s *Scanner) readLayerMap() map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(s.opts.DB.CacheDir, layerMapFile)); err == nil {
		_ = json.Unmarshal(b, &m) // a damaged map only costs reading layers again
	}
	return m
}

// keepLayerMap adds res's layer digests to the layer map read at plan time, m, and
// writes it (atomically, best effort) when that added any.
func (s *Scanner) keepLayerMap(m map[string]string, res dockerarchive.Resolved) {
	add := res.LayerDiffIDs()
	n := len(m)
	maps.Copy(m, add)
	if len(m) == n {
		return
	}
	if len(m) > maxLayerMap {
		m = add
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	path := filepath.Join(s.opts.DB.CacheDir, layerMapFile)
	if os.WriteFile(path+".tmp", b, 0o600) == nil {
		_ = os.Rename(path+".tmp", path)
	}
}

// missingManifests lists the digests of avail (platform manifests the daemon holds)
// that res has no image for.
func missingManifests(res dockerarchive.Resolved, avail []string) []string {
	have := map[string]bool{}
	for _, img := range res.Images {
		have[img.Manifest] = true
	}
	var out []string
	for _, d := range avail {
		if !have[d] {
			out = append(out, d)
		}
	}
	return out
}

// imageRecord holds the small JSON blobs of an image (its index, manifests, configs,
// attestation manifests and statements) by digest, as kept between scans.
type imageRecord map[string][]byte

func (r imageRecord) get(d string) ([]byte, bool) { b, ok := r[d]; return b, ok }

// recordPath is where the record of an image analysed before is kept, so that a
// re-scan against a new DB needs no image export when every layer is in the layer cache.
func (s *Scanner) recordPath(id string) string {
	return engine.ImageConfigPath(s.opts.DB.CacheDir, id)
}

// cachedRecord returns the kept record of image id. Its blobs are checked against
// their digests when resolved (dockerarchive.Resolve). A record written by an older
// version (the bare config, whose digest is the ID) is read as a one-blob record.
func (s *Scanner) cachedRecord(id string) (imageRecord, error) {
	if !strings.HasPrefix(id, "sha256:") {
		return nil, os.ErrNotExist
	}
	raw, err := os.ReadFile(s.recordPath(id))
	if err != nil {
		return nil, err
	}
	rec := imageRecord{}
	if dockerarchive.Digest(raw) == id {
		rec[id] = raw
	} else {
		var f struct {
			Blobs map[string][]byte `json:"blobs"`
		}
		if err := json.Unmarshal(raw, &f); err != nil || len(f.Blobs) == 0 {
			return nil, fmt.Errorf("kept record of %s is damaged", id)
		}
		rec = f.Blobs
	}
	now := time.Now() // pruning goes by last use
	_ = os.Chtimes(s.recordPath(id), now, now)
	return rec, nil
}

// keepRecord writes the record of image id (atomically; a failure only costs the
// next scan an export).
func (s *Scanner) keepRecord(id string, rec imageRecord) {
	b, err := json.Marshal(struct {
		Blobs map[string][]byte `json:"blobs"`
	}{rec})
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(s.recordPath(id)), 0o700); err == nil {
		tmp := s.recordPath(id) + ".tmp"
		if os.WriteFile(tmp, b, 0o600) == nil {
			_ = os.Rename(tmp, s.recordPath(id))
		}
	}
}

// ingested is what reading an image archive gave.
type ingested struct {
	json  imageRecord                // small JSON blobs by digest (indexes, manifests, configs, statements)
	seen  map[string]bool            // diff IDs of the layers in the archive
	blobs map[string]ftypes.BlobInfo // analysed layers by diff ID (Trivy's BlobInfo, no CreatedBy yet)
}

// ingest reads a `docker save` archive from r in one pass, as the daemon streams it:
// Docker's legacy layout (Docker 20.10 to 24: "<config hex>.json", "<v1 ID>/json",
// "<v1 ID>/layer.tar"), or the OCI image layout Docker 25+ writes (blobs/sha256/*, in
// digest order, then index.json; on the containerd image store with nested indexes,
// gzip or zstd layers and attestation manifests). JSON blobs are kept (what the image
// ID names is resolved from them afterwards, see dockerarchive.Resolve); layers the
// plan lists as missing are analysed as they go by, with Trivy's analysers, walker and
// post-handlers exactly as Trivy's image artifact does (inspectLayer); cached layers
// are skipped, compressed ones without even decompressing when their diff ID is known.
// A layer whose diff ID is not known before it is read (a compressed blob whose
// manifest and config come later, or the legacy layout's v1 IDs) is analysed unless
// the plan knows every layer is cached, and its result kept only if its diff ID turns
// out to be missing. Nothing is written to disk but Trivy's post-analysis temporary
// files.
func (s *Scanner) ingest(ctx context.Context, r io.Reader, p *layerPlan) (*ingested, error) {
	out := &ingested{json: imageRecord{}, seen: map[string]bool{}, blobs: map[string]ftypes.BlobInfo{}}
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
		case dir == "." && len(base) == 64+len(".json") && strings.HasSuffix(base, ".json") && isHex(strings.TrimSuffix(base, ".json")):
			// Legacy layout: the image config, named by its digest.
			b, err := readJSONBlob(tr, hdr.Size)
			if err != nil {
				return nil, err
			}
			out.json["sha256:"+strings.TrimSuffix(base, ".json")] = b
		case base == "json" && dir != "." && !strings.Contains(dir, "/") && len(p.diffIDs) > 0:
			// Legacy layout: "<v1 ID>/json" comes before "<v1 ID>/layer.tar".
			if b, err := io.ReadAll(io.LimitReader(tr, maxJSONBlobSize)); err == nil {
				if d := dockerarchive.LegacyLayerDiffID(dir, b, p.diffIDs); d != "" {
					legacy[dir] = d
				}
			}
		case base == "layer.tar" && dir != ".":
			if err := s.ingestLayer(ctx, tr, legacy[dir], "", p, out); err != nil {
				return nil, err
			}
		case dir == "blobs/sha256" && len(base) == 64 && isHex(base):
			if err := s.ingestBlob(ctx, tr, "sha256:"+base, hdr.Size, p, out); err != nil {
				return nil, err
			}
		}
	}
	// The daemon's stream may end with padding after the tar's end marker.
	_, _ = io.Copy(io.Discard, r)
	return out, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

func readJSONBlob(r io.Reader, size int64) ([]byte, error) {
	if size > maxJSONBlobSize {
		return nil, fmt.Errorf("an image config in the archive is %d bytes, more than %d", size, maxJSONBlobSize)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxJSONBlobSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the image archive: %v", err)
	}
	return b, nil
}

// ingestBlob handles one blob of an OCI image layout, named by the digest of its
// content: a small JSON blob is kept; a layer is recognised by its magic bytes
// (gzip, zstd, else an uncompressed tar, whose digest is its diff ID).
func (s *Scanner) ingestBlob(ctx context.Context, r io.Reader, digest string, size int64, p *layerPlan, out *ingested) error {
	if p.known(digest) {
		return s.ingestLayer(ctx, r, digest, "", p, out) // an uncompressed layer the plan names
	}
	if d, ok := p.layerDiff[digest]; ok {
		// A compressed layer whose diff ID is known: skipped unread when cached.
		if err := p.learn(ctx, d); err != nil {
			return err
		}
		if p.cached[d] {
			out.seen[d] = true
			slog.Debug("Layer found in the layer cache: not read", "diff_id", d, "digest", digest)
			return nil
		}
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
		return s.ingestLayer(ctx, zr, p.layerDiff[digest], digest, p, out)
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return fmt.Errorf("read layer %s of the image archive: %v", digest, err)
		}
		defer zr.Close()
		return s.ingestLayer(ctx, zr, p.layerDiff[digest], digest, p, out)
	case len(magic) > 0 && magic[0] == '{' && size <= maxJSONBlobSize:
		b, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("read the image archive: %v", err)
		}
		if json.Valid(b) {
			out.json[digest] = b
			p.mapLayers(out.json, digest)
			return nil
		}
		return s.ingestLayer(ctx, bytes.NewReader(b), digest, "", p, out)
	}
	// An uncompressed layer (a tar: "ustar" at offset 257): its blob digest is its
	// diff ID. Anything else is not a layer of an image.
	if head, _ := br.Peek(262); len(head) < 262 || !bytes.Equal(head[257:262], []byte("ustar")) {
		slog.Debug("Blob is neither a layer nor JSON: skipped", "digest", digest)
		return nil
	}
	return s.ingestLayer(ctx, br, digest, "", p, out)
}

// mapLayers learns which compressed blob holds which diff ID from a manifest and its
// config, once both have gone by (the layout orders blobs by digest, so either may
// come first); added is the JSON blob just read.
func (p *layerPlan) mapLayers(blobs imageRecord, added string) {
	pair := func(mraw []byte) {
		var m v1.Manifest
		if json.Unmarshal(mraw, &m) != nil || len(m.Layers) == 0 {
			return
		}
		craw, ok := blobs[m.Config.Digest.String()]
		if !ok || dockerarchive.Digest(craw) != m.Config.Digest.String() {
			return
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(craw))
		if err != nil || len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return
		}
		for i, l := range m.Layers {
			p.layerDiff[l.Digest.String()] = cfg.RootFS.DiffIDs[i].String()
		}
	}
	if bytes.Contains(blobs[added], []byte(`"layers"`)) {
		pair(blobs[added])
		return
	}
	// A config: pair it with the manifests read before it.
	for d, b := range blobs {
		if d != added && bytes.Contains(b, []byte(added)) && bytes.Contains(b, []byte(`"layers"`)) {
			pair(b)
		}
	}
}

// ingestLayer reads one uncompressed layer. diffID is the layer's diff ID when it is
// known before reading (the blob digest of an uncompressed OCI layer, a compressed
// blob that a manifest and config map, or the v1 ID of the legacy layout, see
// dockerarchive.LegacyLayerDiffID), "" otherwise: the layer is then hashed as it is
// read to learn its diff ID. A named layer is not hashed again (that would cost a core
// for a second per GB, on the path every byte of the image takes): the names come
// from the daemon, and what they derive from is checked against the image ID.
// compressed is the digest of the compressed blob it came from ("" for none), which
// Trivy records as the layer digest.
func (s *Scanner) ingestLayer(ctx context.Context, r io.Reader, diffID, compressed string, p *layerPlan, out *ingested) error {
	analyse := !p.complete || len(p.missing) > 0
	var h hash.Hash
	if diffID != "" {
		if err := p.learn(ctx, diffID); err != nil {
			return err
		}
		_, analyse = p.missing[diffID]
		if analyse && p.claims != nil {
			// Another runner may be analysing it: see claims.go.
			if _, done := p.claims.take(ctx, "diff:"+diffID, func() (string, bool) { return diffID, p.stored(ctx, diffID) }); done {
				p.nowCached(diffID)
				out.seen[diffID] = true
				return nil
			}
		}
	} else {
		if analyse && compressed != "" && p.claims != nil {
			// A compressed blob read before its manifest and config: claimed by digest;
			// the runner that analyses it says which diff ID it holds.
			if d, done := p.claims.take(ctx, "blob:"+compressed, func() (string, bool) {
				d := p.claims.diffOf(ctx, compressed)
				return d, d != "" && p.stored(ctx, d)
			}); done {
				p.layerDiff[compressed] = d
				p.nowCached(d)
				out.seen[d] = true
				return nil
			}
		}
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
		p.claims.learnt(ctx, compressed, got)
		if err := p.learn(ctx, got); err != nil {
			return err
		}
	}
	out.seen[got] = true
	if !analyse {
		slog.Debug("Layer found in the layer cache: not analysed", "diff_id", got)
		return nil
	}
	if _, want := p.missing[got]; !want {
		slog.Debug("Layer read before its diff ID was known, then found in the layer cache: its analysis is dropped", "diff_id", got)
		return nil
	}
	slog.Debug("Layer analysed", "diff_id", got, "bytes", n+blob.Size)
	blob.DiffID = got
	blob.Digest = compressed
	blob.Size += n
	out.blobs[got] = blob
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
	tee, entries := logEntries(cr) // the layer rule: see layers.go
	defer func() { _, _ = entries.finish() }()
	opqDirs, whFiles, walkErr := p.walker.Walk(tee, func(filePath string, info os.FileInfo, opener analyzer.Opener) error {
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
	replaced, err := entries.finish()
	if err != nil {
		return ftypes.BlobInfo{}, fmt.Errorf("read a layer of the image archive: %v", err)
	}
	whFiles = append(whFiles, replaced...)
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
// the image's record (its JSON blobs) for later scans. Every layer of every image to
// scan must be in the archive or in the layer cache: an image is never scanned in part.
func (s *Scanner) store(ctx context.Context, p *layerPlan, in *ingested, res dockerarchive.Resolved, imageID string) error {
	put := map[string]bool{}
	for _, img := range res.Images {
		cfg, err := v1.ParseConfigFile(bytes.NewReader(img.ConfigRaw))
		if err != nil {
			return fmt.Errorf("read the image config %s: %v", img.Config, err)
		}
		var createdBy []string
		for _, h := range cfg.History {
			if h.EmptyLayer {
				continue
			}
			c := strings.TrimPrefix(h.CreatedBy, "/bin/sh -c ")
			createdBy = append(createdBy, strings.TrimPrefix(c, "#(nop) "))
		}
		if err := p.learn(ctx, img.DiffIDs...); err != nil {
			return err
		}
		for i, d := range img.DiffIDs {
			blob, analysed := in.blobs[d]
			if !in.seen[d] && !analysed && !p.cached[d] {
				return fmt.Errorf("the image archive lacks layer %s of image %s (%s): it is not a complete docker save archive", d, imageID, img.Platform)
			}
			if !analysed {
				if !p.cached[d] {
					return fmt.Errorf("layer %s of image %s (%s) was read but not analysed (internal): nothing is reported for a layer not looked at", d, imageID, img.Platform)
				}
				continue // in the layer cache already
			}
			if put[d] {
				continue
			}
			key, err := p.blobKey(d)
			if err != nil {
				return err
			}
			if len(createdBy) == len(img.DiffIDs) {
				blob.CreatedBy = createdBy[i]
			}
			if err := s.cache.PutBlob(ctx, key, blob); err != nil {
				return fmt.Errorf("write the layer cache: %w", err)
			}
			put[d] = true
		}
	}
	s.keepRecord(imageID, in.json)
	s.keepLayerMap(p.layerMap, res)
	return nil
}

// errLayerNotKept is what a streamed image answers when Trivy asks for layer content
// after the stream: every layer it needs was analysed and cached by then.
var errLayerNotKept = errors.New("layer content is not kept after the image stream (internal: layer cache keys differ from Trivy's)")

// streamedImage is one platform's image whose archive has been read: its config is
// known, its layers are in Trivy's layer cache, their content is gone. Its ID is its
// config digest (the image ID of Docker's classic store; on the containerd store the
// local ID names an index or manifest, which several platform images share). It satisfies Trivy's
// ftypes.Image for Trivy's image artifact, which then only reads the config.
type streamedImage struct {
	ref    Image
	config string // the config digest: Trivy keys its image-level cache by ID()
	raw    []byte
	cfg    *v1.ConfigFile
}

func (i *streamedImage) Name() string          { return i.ref.Reference }
func (i *streamedImage) ID() (string, error)   { return i.config, nil }
func (i *streamedImage) RepoTags() []string    { return i.ref.RepoTags }
func (i *streamedImage) RepoDigests() []string { return i.ref.RepoDigests }

func (i *streamedImage) Layers() ([]v1.Layer, error) { return nil, errLayerNotKept }
func (i *streamedImage) MediaType() (gcrtypes.MediaType, error) {
	return gcrtypes.DockerManifestSchema2, nil
}
func (i *streamedImage) Size() (int64, error)                { return 0, errLayerNotKept }
func (i *streamedImage) ConfigName() (v1.Hash, error)        { return v1.NewHash(i.config) }
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
