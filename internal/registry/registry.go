// Package registry reads what a push left in the registry, to check that the pushed
// manifest is the image that was scanned.
package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Credentials are registry credentials as the docker config file holds them.
type Credentials struct {
	Username, Password, Auth, IdentityToken, RegistryToken string
}

// VerifyPushed fetches repo@digest and checks that it is the image with config digest
// imageID: the manifest's config digest for an image manifest, or any child manifest's
// for an index (multi-platform push). insecure allows plain HTTP (as the daemon's
// insecure-registries setting does; 127.0.0.1 and localhost are plain HTTP anyway).
func VerifyPushed(ctx context.Context, repo, digest, imageID string, creds Credentials, insecure bool) error {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(repo+"@"+digest, opts...)
	if err != nil {
		return fmt.Errorf("pushed reference %s@%s: %v", repo, digest, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{
		Username: creds.Username, Password: creds.Password, Auth: creds.Auth,
		IdentityToken: creds.IdentityToken, RegistryToken: creds.RegistryToken,
	})
	if creds == (Credentials{}) {
		auth = authn.Anonymous
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(http.DefaultTransport)}
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
		return fmt.Errorf("the pushed index %s holds no manifest of the scanned image %s", ref, imageID)
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
		return fmt.Errorf("the pushed manifest %s has config digest %s, but the scanned image ID is %s", ref, cfg, imageID)
	}
	return nil
}
