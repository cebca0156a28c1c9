// Package attest carries a gate's result with the pushed image: in-toto statements
// (the vulnerability scan, the SBOM, the gate's verdict) attached to the pushed
// manifest or index as OCI 1.1 referrers, optionally signed as Cosign signs them, and
// read back by digest for `docker secscan verify`.
//
// Formats (the sources each follows):
//   - A statement is an in-toto Statement v1 (https://in-toto.io/Statement/v1) whose
//     subject is the pushed repository and manifest digest.
//   - The scan's predicate is Cosign's vulnerability predicate
//     (https://cosign.sigstore.dev/attestation/vuln/v1) as `trivy image --format
//     cosign-vuln` writes it; the SBOM's is a CycloneDX BOM (https://cyclonedx.org/bom,
//     the type `cosign attest --type cyclonedx` uses); the verdict's is ours
//     (PredicateVerdict, documented by verdictschema/verdict.schema.json).
//   - Unsigned, a statement is the single layer (application/vnd.in-toto+json) of an
//     OCI image manifest whose artifactType is the same, with the predicate type in the
//     layer's "in-toto.io/predicate-type" annotation (Docker's attestation convention).
//   - Signed, it is a DSSE envelope inside a Sigstore bundle v0.3 with a public-key
//     hint and no transparency-log entry, in the manifest layout `cosign attest
//     --new-bundle-format` writes (artifactType and layer
//     application/vnd.dev.sigstore.bundle.v0.3+json, annotation
//     dev.sigstore.bundle.predicateType), so that `cosign verify-attestation --key
//     cosign.pub --insecure-ignore-tlog` accepts it.
//   - Each manifest names the pushed manifest or index as its subject; registries
//     without the referrers API (distribution 2.8) list it in the referrers tag
//     "sha256-<hex>" (OCI distribution spec 1.1), which go-containerregistry maintains.
package attest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Predicate types of the statements a push attaches.
const (
	// PredicateVuln is Cosign's vulnerability predicate (cosign attest --type vuln).
	PredicateVuln = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// PredicateCycloneDX is a CycloneDX SBOM (cosign attest --type cyclonedx).
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateVerdict is the gate's verdict (Verdict; verdictschema/verdict.schema.json).
	PredicateVerdict = "https://github.com/docker-secscan/docker-secscan/attestation/verdict/v1"
)

// Media types and annotations of the attached manifests.
const (
	// StatementType is the in-toto Statement v1 type.
	StatementType = "https://in-toto.io/Statement/v1"
	// InTotoMediaType is the media type of an in-toto statement, and DSSE's payload type.
	InTotoMediaType = "application/vnd.in-toto+json"
	// BundleMediaType is a Sigstore bundle v0.3 (JSON).
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AnnotationPredicateType names an unsigned statement's predicate type (Docker/BuildKit).
	AnnotationPredicateType = "in-toto.io/predicate-type"
	// AnnotationBundlePredicateType names a signed statement's predicate type (Cosign).
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// AnnotationBundleContent says what a bundle holds (Cosign: "dsse-envelope").
	AnnotationBundleContent = "dev.sigstore.bundle.content"
	// AnnotationCreated is when the record was made (OCI image-spec annotation, RFC 3339).
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationTool marks the records docker secscan wrote.
	AnnotationTool = "dev.docker-secscan.tool"
)

// Subject is an in-toto resource descriptor: the image repository and its manifest digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"` // algorithm -> hex, e.g. {"sha256": "ab12..."}
}

// Statement is an in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md).
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// NewStatement wraps predicate (JSON) as a statement about repo@digest ("sha256:<hex>").
// Errors: a digest that is not "sha256:<64 hex>", or a predicate that is not a JSON object.
func NewStatement(repo, digest, predicateType string, predicate []byte) (Statement, error) {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexPart) != 64 {
		return Statement{}, fmt.Errorf("subject digest %q: want sha256:<64 hex digits>", digest)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(predicate, &obj); err != nil {
		return Statement{}, fmt.Errorf("%s predicate: not a JSON object: %v", predicateType, err)
	}
	return Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: repo, Digest: map[string]string{"sha256": hexPart}}},
		PredicateType: predicateType,
		Predicate:     predicate,
	}, nil
}

// About reports whether the statement names digest ("sha256:<hex>") among its subjects.
func (s Statement) About(digest string) bool {
	hexPart := strings.TrimPrefix(digest, "sha256:")
	for _, sub := range s.Subject {
		if sub.Digest["sha256"] == hexPart {
			return true
		}
	}
	return false
}

// ParseStatement reads an in-toto statement (JSON) and checks its type and shape.
func ParseStatement(b []byte) (Statement, error) {
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("not an in-toto statement: %v", err)
	}
	switch {
	case s.Type != StatementType && s.Type != "https://in-toto.io/Statement/v0.1":
		return s, fmt.Errorf("not an in-toto statement: _type is %q", s.Type)
	case s.PredicateType == "":
		return s, fmt.Errorf("in-toto statement without a predicateType")
	case len(s.Subject) == 0:
		return s, fmt.Errorf("in-toto statement without a subject")
	}
	return s, nil
}

// ShortType is the name a user gives a predicate type (as cosign's --type): vuln,
// cyclonedx, verdict; other types are returned whole.
func ShortType(predicateType string) string {
	switch predicateType {
	case PredicateVuln:
		return "vuln"
	case PredicateCycloneDX:
		return "cyclonedx"
	case PredicateVerdict:
		return "verdict"
	}
	return predicateType
}
