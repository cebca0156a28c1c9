package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// PEM block types of Cosign's key files (cosign generate-key-pair; pkg/cosign/keys.go).
const (
	pemSigstorePrivate = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemCosignPrivate   = "ENCRYPTED COSIGN PRIVATE KEY" // older cosign releases
	pemPublic          = "PUBLIC KEY"
)

// Signer signs statements with a private key as Cosign does: DSSE over the statement
// (payload type application/vnd.in-toto+json), SHA-256 for ECDSA and RSA (PKCS #1
// v1.5), plain Ed25519.
type Signer struct {
	key crypto.Signer
}

// LoadSigner reads a Cosign private key file (cosign.key: PEM "ENCRYPTED SIGSTORE
// PRIVATE KEY", scrypt + secretbox as go-securesystemslib encrypts it) with password
// (Cosign reads it from $COSIGN_PASSWORD). Errors name the file and say what is wrong,
// never the password.
func LoadSigner(path string, password []byte) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: not a PEM file: give the cosign.key that 'cosign generate-key-pair' wrote", path)
	}
	if block.Type != pemSigstorePrivate && block.Type != pemCosignPrivate {
		return nil, fmt.Errorf("signing key %s: a %q PEM block, not a Cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY): give the cosign.key that 'cosign generate-key-pair' wrote", path, block.Type)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: cannot decrypt it (wrong password? set COSIGN_PASSWORD to the key's password)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %v", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: unsupported key type %T", path, k)
	}
	switch s.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, fmt.Errorf("signing key %s: unsupported key type %T: use ECDSA, Ed25519 or RSA", path, k)
	}
	return &Signer{key: s}, nil
}

// NewSigner signs with key (ECDSA, Ed25519 or RSA).
func NewSigner(key crypto.Signer) *Signer { return &Signer{key: key} }

// Public is the signer's public key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Bundle signs statement (JSON) into a DSSE envelope and returns the Sigstore bundle
// v0.3 (JSON) that holds it: verification material is a public-key hint (base64 of
// the SHA-256 of the key's PKIX DER, as Cosign writes it), no transparency-log entry.
func (s *Signer) Bundle(statement []byte) ([]byte, error) {
	sig, err := sign(s.key, dsse.PAE(InTotoMediaType, statement))
	if err != nil {
		return nil, fmt.Errorf("sign the statement: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		return nil, fmt.Errorf("sign the statement: %v", err)
	}
	h := sha256.Sum256(der)
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: base64.StdEncoding.EncodeToString(h[:])}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: InTotoMediaType,
			Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	return protojson.Marshal(b)
}

func sign(k crypto.Signer, msg []byte) ([]byte, error) {
	switch k.(type) {
	case ed25519.PrivateKey:
		return k.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		h := sha256.Sum256(msg)
		return k.Sign(rand.Reader, h[:], crypto.SHA256)
	}
}

// LoadPublicKey reads a PEM public key (cosign.pub: "PUBLIC KEY", PKIX).
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemPublic {
		return nil, fmt.Errorf("public key %s: not a PEM \"PUBLIC KEY\": give the cosign.pub that 'cosign generate-key-pair' wrote", path)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %v", path, err)
	}
	return pub, nil
}

// ErrBadSignature is a signed record whose signature does not verify with the key.
var ErrBadSignature = errors.New("the signature does not verify with the given key")

// OpenBundle reads a Sigstore bundle (JSON) holding a DSSE envelope of an in-toto
// statement, verifies its signature with one of keys (none: no check), and returns the
// statement. Errors: a bundle that does not parse or holds no DSSE envelope; with
// keys, ErrBadSignature when no signature verifies with any of them.
func OpenBundle(b []byte, keys ...crypto.PublicKey) ([]byte, error) {
	var pb protobundle.Bundle
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &pb); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle: %v", err)
	}
	env := pb.GetDsseEnvelope()
	if env == nil {
		return nil, errors.New("the Sigstore bundle holds no DSSE envelope")
	}
	if env.GetPayloadType() != InTotoMediaType {
		return nil, fmt.Errorf("the DSSE envelope holds %q, not an in-toto statement", env.GetPayloadType())
	}
	if len(keys) == 0 {
		return env.GetPayload(), nil
	}
	pae := dsse.PAE(env.GetPayloadType(), env.GetPayload())
	for _, pub := range keys {
		for _, sig := range env.GetSignatures() {
			if verify(pub, pae, sig.GetSig()) == nil {
				return env.GetPayload(), nil
			}
		}
	}
	return nil, ErrBadSignature
}

func verify(pub crypto.PublicKey, msg, sig []byte) error {
	h := sha256.Sum256(msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if ecdsa.VerifyASN1(k, h[:], sig) {
			return nil
		}
	case ed25519.PublicKey:
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig)
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return ErrBadSignature
}
