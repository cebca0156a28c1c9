// Package daemon talks to the Docker Engine the docker CLI is configured for: it
// resolves image references in the local image store, saves an image for scanning, and
// pushes it the way `docker push` does.
package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// API is the part of the Docker Engine API client this package uses
// (github.com/moby/moby/client.APIClient satisfies it).
type API interface {
	ClientVersion() string
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (client.ImageSaveResult, error)
	ImagePush(ctx context.Context, image string, opts client.ImagePushOptions) (client.ImagePushResponse, error)
	DaemonHost() string
}

// Image is an image found in the local store.
type Image struct {
	Input string          // what the user gave
	Named reference.Named // normalised name (nil when the input was an image ID)
	// ID is the image ID, "sha256:<64 hex>": the config digest on the classic image
	// store, the digest of the image index or manifest on the containerd image store
	// (Docker 29's default), which is then what a push sends as the tag's digest.
	ID string
	// Store is StoreContainerd when the daemon names the image by an index or
	// manifest (inspect's Descriptor, API 1.46+), else StoreClassic.
	Store string
	// MediaType is the media type of what ID names on the containerd store ("" else).
	MediaType string
	DiffIDs   []string // the layers' diff IDs, bottom first (RootFS.Layers; the daemon's platform)
	// DiffIDsComplete says DiffIDs are all the layers of the image: one platform image
	// (the classic store, a manifest, or an index with one image manifest available).
	DiffIDsComplete bool
	// Platforms lists the platform images available locally (containerd store, API
	// 1.48+; empty when unknown), and Available their manifest digests, both in
	// the order of the digests: the
	// content a push of the image sends, which can grow under the same ID (a platform
	// pulled or loaded later), so a scan is only reused, and a push only made, for
	// the same set.
	Platforms   []string
	Available   []string
	RepoTags    []string
	RepoDigests []string
}

// Image stores, see Image.Store.
const (
	StoreClassic    = "classic"
	StoreContainerd = "containerd"
)

var (
	idPattern = regexp.MustCompile(`^(sha256:)?[0-9a-f]{12,64}$`)
	shortHex  = regexp.MustCompile(`^(sha256:)?[0-9a-f]{4,11}$`)
)

// ParseReference checks an image reference as `docker push` would (Docker's
// distribution/reference grammar): lower-case repository, valid tag, full digest.
// A name without tag or digest gets ":latest". The error names the input and the fix.
func ParseReference(input string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(input)
	if err != nil {
		return nil, referenceError(input, err)
	}
	return reference.TagNameOnly(named), nil
}

func referenceError(input string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, reference.ErrNameContainsUppercase) || strings.Contains(msg, "must be lowercase"):
		msg = "repository names must be lower-case"
	case strings.Contains(input, "@"):
		msg = "a digest must be written in full, \"sha256:\" followed by 64 hex digits"
	case input == "":
		msg = "the reference is empty"
	}
	return fmt.Errorf("invalid image reference %q: %s", input, msg)
}

// Resolve finds input (name, name:tag, name@digest, or image ID or ID prefix) in the
// local image store and returns its image ID. Errors: the reference is malformed, the
// image is not in the store, or the daemon is unreachable, each as one line.
func Resolve(ctx context.Context, api API, input string) (Image, error) {
	img := Image{Input: input}
	lookup := input
	if !idPattern.MatchString(input) {
		named, err := reference.ParseNormalizedNamed(input)
		if err != nil {
			return img, referenceError(input, err)
		}
		img.Named = reference.TagNameOnly(named)
		lookup = reference.FamiliarString(img.Named)
	}
	var opts []client.ImageInspectOption
	if versions.GreaterThanOrEqualTo(api.ClientVersion(), "1.48") {
		opts = append(opts, client.ImageInspectWithManifests(true))
	}
	res, err := api.ImageInspect(ctx, lookup, opts...)
	if err != nil {
		return img, inspectError(api, input, err)
	}
	img.ID = res.ID
	img.DiffIDs = res.RootFS.Layers
	img.RepoTags = res.RepoTags
	img.RepoDigests = res.RepoDigests
	img.Store, img.DiffIDsComplete = StoreClassic, true
	if d := res.Descriptor; d != nil && d.Digest.String() == res.ID && d.MediaType != "" &&
		d.MediaType != ocispec.MediaTypeImageConfig && d.MediaType != "application/vnd.docker.container.image.v1+json" {
		img.Store, img.MediaType = StoreContainerd, d.MediaType
		type available struct{ digest, platform string }
		var avail []available
		for _, m := range res.Manifests {
			if m.Kind == image.ManifestKindImage && m.Available {
				a := available{digest: m.ID, platform: "unknown"}
				if p := m.ImageData; p != nil {
					a.platform = platforms.FormatAll(p.Platform)
				}
				avail = append(avail, a)
			}
		}
		sort.Slice(avail, func(i, j int) bool { return avail[i].digest < avail[j].digest })
		for _, a := range avail {
			img.Available = append(img.Available, a.digest)
			img.Platforms = append(img.Platforms, a.platform)
		}
		images := len(avail)
		isIndex := d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
		img.DiffIDsComplete = !isIndex || images == 1
	}
	return img, nil
}

func inspectError(api API, input string, err error) error {
	switch {
	case errdefs.IsNotFound(err) && shortHex.MatchString(input):
		return fmt.Errorf("image %q is not in the local image store of %s: an image ID needs at least 12 hex digits (docker images shows them)", input, api.DaemonHost())
	case errdefs.IsNotFound(err):
		return fmt.Errorf("image %q is not in the local image store of %s: build, pull or load it first", input, api.DaemonHost())
	case client.IsErrConnectionFailed(err):
		return unreachable(api, err)
	}
	return fmt.Errorf("inspect image %q: %v", input, oneLine(err))
}

func unreachable(api API, err error) error {
	return fmt.Errorf("cannot reach the Docker daemon at %s: %v (is it running? check DOCKER_HOST and 'docker context')", api.DaemonHost(), oneLine(err))
}

// Export starts `docker save` of the image with the given ID and returns the archive
// as the daemon streams it (a tar of exactly that image, in Docker's legacy layout or,
// from Docker 25, the OCI image layout); the caller reads it once and closes it.
// Closing it early stops the export. Errors name the image and the daemon.
func Export(ctx context.Context, api API, id string) (io.ReadCloser, error) {
	rc, err := api.ImageSave(ctx, []string{id})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return nil, unreachable(api, err)
		}
		return nil, saveError(id, err)
	}
	return &exportReader{rc: rc, id: id}, nil
}

// exportReader turns a failed read of the export into Export's one-line error.
type exportReader struct {
	rc io.ReadCloser
	id string
}

func (e *exportReader) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	if err != nil && err != io.EOF {
		if strings.Contains(err.Error(), "empty export") {
			err = saveError(e.id, err)
		} else {
			err = fmt.Errorf("the daemon's export of image %s broke off: %v (is the daemon still running? run again)", e.id, oneLine(err))
		}
	}
	return n, err
}

func (e *exportReader) Close() error { return e.rc.Close() }

func saveError(id string, err error) error {
	if strings.Contains(err.Error(), "empty export") {
		return fmt.Errorf("image %s has no layers, and this daemon cannot export such an image: there is nothing to scan (add a layer, or scan the image it is built from)", id)
	}
	return fmt.Errorf("save image %s: %v", id, oneLine(err))
}

// ParsePlatform checks a platform as `docker push --platform` takes it, os/arch or
// os/arch/variant (containerd's platform syntax), and returns it normalised
// ("linux/aarch64" -> "linux/arm64"). An OS alone is refused: it would mean the
// daemon's architecture, which a gate should not guess.
func ParsePlatform(s string) (string, error) {
	if strings.Count(s, "/") < 1 {
		return "", fmt.Errorf("invalid platform %q: use os/arch[/variant], e.g. linux/amd64", s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid platform %q: use os/arch[/variant], e.g. linux/amd64", s)
	}
	return platforms.FormatAll(platforms.Normalize(p)), nil
}

// CheckPushPlatform says whether the daemon can push one platform of an image
// (`docker push --platform` needs API 1.46, Docker 25+). Call it after another request
// (e.g. Resolve), once the client has negotiated the API version.
func CheckPushPlatform(api API) error {
	if v := api.ClientVersion(); v != "" && versions.LessThan(v, "1.46") {
		return fmt.Errorf("--platform needs Docker API 1.46 (Docker 25 or later) to push one platform, and the daemon at %s speaks %s: drop --platform (its images have one platform)", api.DaemonHost(), v)
	}
	return nil
}

// PushResult is what the registry answered to a push.
type PushResult struct {
	Tag    string // the tag pushed
	Digest string // digest of what the tag now names (manifest or index), from the push stream
	Size   int    // its size in bytes
	// SinglePlatform is set when the daemon pushed one platform's manifest instead of
	// the image index (Docker 29 does so when the index names content the local store
	// lacks, or with --platform).
	SinglePlatform bool
}

// pushedLine is the line every engine prints at the end of a push:
// "TAG: digest: sha256:<hex> size: N" (distribution's and containerd's pushers alike).
var pushedLine = regexp.MustCompile(`^(\S+): digest: (sha256:[0-9a-f]{64}) size: ([0-9]+)$`)

// Push pushes the tagged reference through the daemon with encodedAuth (as from
// docker/cli's command.RetrieveAuthTokenFromImage), rendering progress to out like
// `docker push` (animated when out is a terminal). platform ("" for all; API 1.46+)
// pushes only that platform's manifest, as `docker push --platform` does. It returns
// the digest the registry accepted for the tag, from the push stream: the aux message
// of Docker's classic store, else the closing "TAG: digest: ... size: N" line that
// Docker 29's containerd store prints (never from RepoDigests).
func Push(ctx context.Context, api API, ref reference.NamedTagged, encodedAuth, platform string, out io.Writer, outFd uintptr, isTerminal bool) (PushResult, error) {
	opts := client.ImagePushOptions{RegistryAuth: encodedAuth}
	if platform != "" {
		p, err := platforms.Parse(platform)
		if err != nil {
			return PushResult{}, fmt.Errorf("invalid platform %q: use os/arch[/variant], e.g. linux/amd64", platform)
		}
		opts.Platform = &p
	}
	rc, err := api.ImagePush(ctx, reference.FamiliarString(ref), opts)
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return PushResult{}, unreachable(api, err)
		}
		return PushResult{}, pushError(ref, err)
	}
	defer rc.Close()
	var res, fromLine PushResult
	single := false
	aux := func(m jsonstream.Message) {
		if m.Aux == nil {
			return
		}
		var a struct {
			Tag                          string
			Digest                       string
			Size                         int
			ManifestPushedInsteadOfIndex bool
		}
		if json.Unmarshal(*m.Aux, &a) == nil {
			if a.Digest != "" {
				res = PushResult{Tag: a.Tag, Digest: a.Digest, Size: a.Size}
			}
			single = single || a.ManifestPushedInsteadOfIndex
		}
	}
	// The stream is read once: a tee picks the closing status line out of it.
	sniff := &statusSniffer{}
	if err := jsonmessage.DisplayJSONMessagesStream(io.TeeReader(rc, sniff), out, outFd, isTerminal, aux); err != nil {
		return res, pushError(ref, err)
	}
	if m := pushedLine.FindStringSubmatch(sniff.last); m != nil {
		n, _ := strconv.Atoi(m[3])
		fromLine = PushResult{Tag: m[1], Digest: m[2], Size: n}
	}
	if res.Digest == "" {
		res = fromLine
	}
	res.SinglePlatform = single || platform != ""
	if res.Digest == "" {
		return res, fmt.Errorf("push %s: the daemon reported no digest for the pushed tag", reference.FamiliarString(ref))
	}
	return res, nil
}

// statusSniffer keeps the last "digest:" status of a JSON message stream.
type statusSniffer struct {
	buf  []byte
	last string
}

func (s *statusSniffer) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		line := s.buf[:i]
		if bytes.Contains(line, []byte(": digest: ")) {
			var m struct {
				Status string `json:"status"`
			}
			if json.Unmarshal(line, &m) == nil {
				s.last = strings.TrimSpace(m.Status)
			}
		}
		s.buf = s.buf[i+1:]
	}
	if len(s.buf) > 1<<20 { // no line that long is a status line
		s.buf = s.buf[:0]
	}
	return len(p), nil
}

// pushError names the reference and adds what to do for the usual registry failures.
func pushError(ref reference.Named, err error) error {
	msg := oneLine(err)
	domain := reference.Domain(ref)
	hint := ""
	switch low := strings.ToLower(msg); {
	case strings.Contains(low, "unauthorized"), strings.Contains(low, "no basic auth credentials"),
		strings.Contains(low, "denied"), strings.Contains(low, "authentication required"):
		hint = fmt.Sprintf(" (the registry refused the credentials: run 'docker login %s')", domain)
	case strings.Contains(low, "connection refused"), strings.Contains(low, "no such host"),
		strings.Contains(low, "timeout"), strings.Contains(low, "network is unreachable"):
		hint = fmt.Sprintf(" (is the registry %s up and reachable from the Docker daemon?)", domain)
	}
	return fmt.Errorf("push of %s failed, the tag was not pushed: %s%s", reference.FamiliarString(ref), msg, hint)
}

// oneLine folds a multi-line error message into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// InsecureRegistry reports whether the daemon talks plain HTTP (or unverified TLS) to
// the registry host ("host:port"), per its insecure-registries setting: an entry in
// IndexConfigs marked not secure, or an IP address in InsecureRegistryCIDRs
// (127.0.0.0/8 by default). False when the daemon cannot say.
func InsecureRegistry(ctx context.Context, api interface {
	Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error)
}, host string) bool {
	res, err := api.Info(ctx, client.InfoOptions{})
	if err != nil || res.Info.RegistryConfig == nil {
		return false
	}
	rc := res.Info.RegistryConfig
	if ic, ok := rc.IndexConfigs[host]; ok && ic != nil {
		return !ic.Secure
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if lerr != nil || len(addrs) == 0 {
			return false
		}
		ip = addrs[0]
	}
	for _, p := range rc.InsecureRegistryCIDRs {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
