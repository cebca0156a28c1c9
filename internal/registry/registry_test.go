package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestVerifyPushed(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/app:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	id, _ := img.ConfigName()
	repo := host + "/app"
	if err := VerifyPushed(ctx, repo, Expect{Digest: digest.String(), Config: id.String()}, Credentials{}, true); err != nil {
		t.Fatalf("the pushed image should verify: %v", err)
	}
	other, _ := random.Image(512, 1)
	otherID, _ := other.ConfigName()
	if err := VerifyPushed(ctx, repo, Expect{Digest: digest.String(), Config: otherID.String()}, Credentials{}, true); err == nil || !strings.Contains(err.Error(), "scanned image ID") || !errors.Is(err, ErrNotScanned) {
		t.Fatalf("another image ID must not verify, got %v", err)
	}

	// An index holding the image (a multi-platform push) verifies by its child.
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, "application/vnd.oci.image.index.v1+json"), mutate.IndexAddendum{Add: img})
	iref, _ := name.ParseReference(host+"/app:multi", name.Insecure)
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatal(err)
	}
	idigest, _ := idx.Digest()
	if err := VerifyPushed(ctx, repo, Expect{Digest: idigest.String(), Config: id.String()}, Credentials{}, true); err != nil {
		t.Fatalf("an index holding the image should verify: %v", err)
	}
	if err := VerifyPushed(ctx, repo, Expect{Digest: idigest.String(), Config: otherID.String()}, Credentials{}, true); err == nil {
		t.Fatal("an index without the image must not verify")
	}

	// The containerd store: the tag must name the local image ID, checked by tag.
	if err := VerifyPushed(ctx, repo, Expect{Tag: "multi", Digest: idigest.String(), Digests: []string{idigest.String()}}, Credentials{}, true); err != nil {
		t.Fatalf("the tag names the index pushed: %v", err)
	}
	if err := VerifyPushed(ctx, repo, Expect{Tag: "multi", Digest: digest.String(), Digests: []string{digest.String()}}, Credentials{}, true); err == nil || !strings.Contains(err.Error(), "overtook") {
		t.Fatalf("a tag naming another digest than the push reported must fail, got %v", err)
	}
	if err := VerifyPushed(ctx, repo, Expect{Tag: "multi", Digest: idigest.String(), Digests: []string{digest.String()}}, Credentials{}, true); err == nil || !strings.Contains(err.Error(), "not the scanned image") {
		t.Fatalf("a pushed digest that is not the scanned image must fail, got %v", err)
	}
}

func TestExplain(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host + "/team/app:nope")
	_, err := remote.Get(ref)
	if got := Explain(err, ref.String()); got == nil || !strings.Contains(got.Error(), "is not in its registry") {
		t.Fatalf("404: %v", got)
	}
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ref, _ = name.ParseReference(addr + "/team/app:1")
	_, err = remote.Get(ref)
	if got := Explain(err, ref.String()); got == nil || !strings.Contains(got.Error(), "cannot reach the registry "+addr) || strings.Contains(got.Error(), "\n") {
		t.Fatalf("down: %v", got)
	}
	if Explain(nil, "x") != nil {
		t.Fatal("nil error explained")
	}
}

func TestCredentialsAuthenticator(t *testing.T) {
	if (Credentials{}).Authenticator() != authn.Anonymous {
		t.Fatal("no credentials must be anonymous")
	}
	cfg, err := (Credentials{Username: "u", Password: "p"}).Authenticator().Authorization()
	if err != nil || cfg.Username != "u" || cfg.Password != "p" {
		t.Fatalf("%+v %v", cfg, err)
	}
}
