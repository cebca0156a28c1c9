package scanner

import (
	"archive/tar"
	"bufio"
	"context"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/aquasecurity/trivy/pkg/fanal/analyzer"
	"github.com/aquasecurity/trivy/pkg/fanal/artifact"
	"github.com/aquasecurity/trivy/pkg/fanal/handler"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
)

// The layer rule. When Docker or containerd applies a layer, an entry that is not a
// directory (a regular file, a symbolic or hard link, a device, a FIFO) replaces
// whatever the layers below had at its path, a whole directory included, with no
// whiteout; only a directory entry over a directory merges with it. Trivy's applier
// (pkg/fanal/applier.ApplyLayers) only removes what a whiteout or an opaque directory
// names, so a jar under a directory that an upper layer replaced by a symlink is still
// reported (aquasecurity/trivy#2637). analyseLayer therefore lists every non-directory
// entry of a layer in its BlobInfo's WhiteoutFiles: for each layer, the applier first
// deletes those paths and everything under them from what the lower layers gave, then
// adds the layer's own findings, so a file the layer itself holds is still reported
// (an OS package DB, a jar, a package manifest), and a file or directory it replaced
// is not.

// replacedPathsHandler is a post-handler that does nothing but take part in the layer
// cache keys: handler.Manager.Versions is part of the key of every layer, as Trivy's
// image artifact computes it (artifact/image.calcCacheKeys) and as layerPlan.blobKey
// does, so layers analysed before the rule (without their non-directory entries) are
// not reused. Bump its version whenever what analyseLayer records changes.
type replacedPathsHandler struct{}

const replacedPathsHandlerType ftypes.HandlerType = "secscan-replaced-paths"

func init() {
	handler.RegisterPostHandlerInit(replacedPathsHandlerType, func(artifact.Option) (handler.PostHandler, error) {
		return replacedPathsHandler{}, nil
	})
}

func (replacedPathsHandler) Type() ftypes.HandlerType { return replacedPathsHandlerType }
func (replacedPathsHandler) Version() int             { return 1 }
func (replacedPathsHandler) Priority() int            { return 0 }
func (replacedPathsHandler) Handle(context.Context, *analyzer.AnalysisResult, *ftypes.BlobInfo) error {
	return nil
}

// entryLog lists the non-directory entries of a layer tar while Trivy's walker reads
// it: the bytes the walker reads are copied to a second tar reader that only reads
// headers (Trivy's LayerTar walker does not report links or devices).
type entryLog struct {
	w     *bufio.Writer
	pw    *io.PipeWriter
	done  chan struct{}
	paths []string
	err   error
}

// logEntries returns a reader to give the walker instead of r, and the log of the
// entries it reads. Call finish once the walk is over.
func logEntries(r io.Reader) (io.Reader, *entryLog) {
	pr, pw := io.Pipe()
	l := &entryLog{w: bufio.NewWriterSize(pw, 256<<10), pw: pw, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tr := tar.NewReader(pr)
		for {
			hdr, err := tr.Next()
			if err != nil {
				if err != io.EOF {
					l.err = err
				}
				break
			}
			if p := replacingPath(hdr); p != "" {
				l.paths = append(l.paths, p)
			}
		}
		_, _ = io.Copy(io.Discard, pr) // the walker's reads never block on this side
	}()
	return io.TeeReader(r, l.w), l
}

// finish ends the log and returns the paths of the non-directory entries, sorted, each
// once. err is set when the tar could not be read to its end (the walk then failed too,
// unless it stopped early).
func (l *entryLog) finish() ([]string, error) {
	if l.pw == nil {
		<-l.done
		return l.paths, l.err
	}
	_ = l.w.Flush()
	_ = l.pw.Close()
	l.pw = nil
	<-l.done
	slices.Sort(l.paths)
	l.paths = slices.Compact(l.paths)
	return l.paths, l.err
}

// replacingPath is the path (as Trivy's walker names it) of an entry that replaces
// whatever lower layers had there, "" for a directory, a whiteout or a header.
func replacingPath(hdr *tar.Header) string {
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return ""
	}
	p := strings.TrimLeft(path.Clean(hdr.Name), "/")
	if p == "" || p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(path.Base(p), ".wh.") {
		return ""
	}
	return p
}
