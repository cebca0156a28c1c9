// Package verdictschema validates docker secscan's verdict predicate
// (https://github.com/docker-secscan/docker-secscan/attestation/verdict/v1) against its
// JSON Schema, verdict.schema.json (draft 2020-12), with santhosh-tekuri/jsonschema.
// It is kept apart from package attest so that the plugin, which the docker CLI starts
// for every command, does not link the schema validator (its package initialisation
// costs milliseconds); the tests check that what attest writes, and what its own
// checks refuse, agree with the schema.
package verdictschema

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed verdict.schema.json
var schema []byte

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("verdict.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("verdict.schema.json")
})

// Validate checks a verdict predicate (JSON) against verdict.schema.json; the error
// says what does not follow it.
func Validate(b []byte) error {
	s, err := compiled()
	if err != nil {
		return fmt.Errorf("the verdict schema does not compile: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("verdict predicate: %v", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("verdict predicate does not follow verdict.schema.json: %v", err)
	}
	return nil
}
