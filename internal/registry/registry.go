// Package registry reads what a push left in the registry, to check that the pushed
// manifest is the image that was scanned.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Credentials are registry credentials as the docker config file holds them.
type Credentials struct {
	Username, Password, Auth, IdentityToken, RegistryToken string
}

// ErrNotScanned marks a read-back that found, under the tag, an image other than the
// one scanned (the local tag moved between the last check and the push): the registry
// then serves an unscanned image, which the user must be told to remove.
var ErrNotScanned = errors.New("the registry serves an image that was not scanned")

// notScanned wraps a mismatch so that errors.Is(err, ErrNotScanned).
type notScanned struct{ msg string }

func (e notScanned) Error() string        { return e.msg }
func (e notScanned) Is(target error) bool { return target == ErrNotScanned }

// Expect is what a push must have left in the registry.
type Expect struct {
	// Tag is the tag pushed, and Digest the digest the push stream reported for it.
	Tag, Digest string
	// Digests, when not empty, are the digests the tag may name: the local image ID on
	// the containerd image store (its push sends the index or manifest whose digest is
	// the ID), plus the scanned platform manifests when the daemon pushed one platform.
	Digests []string
	// Config, when not empty, is the config digest the pushed manifest (or one child of
	// a pushed index) must name: the image ID on Docker's classic image store.
	Config string
}

// VerifyPushed reads back what repo:tag names in the registry and checks it against
// exp: the tag must name exp.Digest (the push was not overtaken by another), which
// must be one of exp.Digests, and the manifest at that digest must name exp.Config.
// insecure allows plain HTTP (as the daemon's insecure-registries setting does;
// 127.0.0.1 and localhost are plain HTTP anyway). Errors name the reference and what
// differed.
func VerifyPushed(ctx context.Context, repo string, exp Expect, creds Credentials, insecure bool) error {
	opts := NameOptions(insecure)
	ropts := RemoteOptions(ctx, creds)
	if exp.Tag != "" {
		tag, err := name.NewTag(repo+":"+exp.Tag, opts...)
		if err != nil {
			return fmt.Errorf("pushed reference %s:%s: %v", repo, exp.Tag, err)
		}
		head, err := remote.Head(tag, ropts...)
		if err != nil {
			return fmt.Errorf("read back the pushed tag %s: %v", tag, err)
		}
		if got := head.Digest.String(); got != exp.Digest {
			return fmt.Errorf("the registry says %s names %s, not %s that was just pushed: another push of the tag overtook this one", tag, got, exp.Digest)
		}
	}
	if len(exp.Digests) > 0 && !slices.Contains(exp.Digests, exp.Digest) {
		return notScanned{fmt.Sprintf("the push sent %s, which is not the scanned image %s", exp.Digest, strings.Join(exp.Digests, " or "))}
	}
	if exp.Config == "" {
		return nil
	}
	digest, imageID := exp.Digest, exp.Config
	ref, err := name.NewDigest(repo+"@"+digest, opts...)
	if err != nil {
		return fmt.Errorf("pushed reference %s@%s: %v", repo, digest, err)
	}
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return fmt.Errorf("read back the pushed manifest %s: %v", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return fmt.Errorf("read back the pushed index %s: %v", ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("read back the pushed index %s: %v", ref, err)
		}
		for _, m := range im.Manifests {
			child, err := remote.Image(ref.Context().Digest(m.Digest.String()), ropts...)
			if err != nil {
				continue
			}
			if m, err := child.Manifest(); err == nil && m.Config.Digest.String() == imageID {
				return nil
			}
		}
		return notScanned{fmt.Sprintf("the pushed index %s holds no manifest of the scanned image %s", ref, imageID)}
	}
	img, err := desc.Image()
	if err != nil {
		return fmt.Errorf("read back the pushed manifest %s: %v", ref, err)
	}
	// The manifest names its config by digest (the image ID): no need to fetch it.
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("read back the pushed manifest %s: %v", ref, err)
	}
	if cfg := m.Config.Digest; cfg.String() != imageID {
		return notScanned{fmt.Sprintf("the pushed manifest %s has config digest %s, but the scanned image ID is %s", ref, cfg, imageID)}
	}
	return nil
}

// NameOptions are go-containerregistry's reference options for a registry reached over
// plain HTTP when insecure is set (Docker's insecure-registries; 127.0.0.1 and
// localhost are plain HTTP anyway).
func NameOptions(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// RemoteOptions are go-containerregistry's options to read and write a registry with
// creds (as the docker config file holds them; none: anonymous), bound to ctx.
func RemoteOptions(ctx context.Context, creds Credentials) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(creds.Authenticator()), remote.WithTransport(http.DefaultTransport)}
}

// Authenticator is go-containerregistry's authenticator for the credentials
// (anonymous when there are none).
func (c Credentials) Authenticator() authn.Authenticator {
	if c == (Credentials{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: c.Username, Password: c.Password, Auth: c.Auth,
		IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken,
	})
}

// Explain words an error of go-containerregistry reading ref from its registry as one
// line that says what to do: the reference is not there (HTTP 404, MANIFEST_UNKNOWN,
// NAME_UNKNOWN), the registry wants other credentials (401/403), or it cannot be
// reached. Other errors are returned on one line.
func Explain(err error, ref string) error {
	if err == nil {
		return nil
	}
	host := ref
	if r, perr := name.ParseReference(ref, name.WeakValidation); perr == nil {
		host = r.Context().RegistryStr()
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s is not in its registry (no such tag, digest or repository)", ref)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("the registry %s refused to show %s (HTTP %d): log in with 'docker login %s' as a user that may pull it", host, ref, te.StatusCode, host)
		}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("cannot reach the registry %s for %s: %s (is it running, and is the name right?)", host, ref, firstLine(err.Error()))
	}
	return fmt.Errorf("read %s from its registry: %s", ref, strings.Join(strings.Fields(err.Error()), " "))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:] // the innermost cause, e.g. "connection refused"
	}
	return s
}
