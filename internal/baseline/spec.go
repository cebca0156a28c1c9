package baseline

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// Kind is what a --baseline argument names.
type Kind string

// The kinds of baseline.
const (
	// KindFile: a report file (secscan-json or Trivy's JSON), see ReadFile.
	KindFile Kind = "file"
	// KindImage: an image, looked up in the local image store, then in its registry
	// (Spec.Where says when only one of them may be used).
	KindImage Kind = "image"
	// KindAuto: the tag being scanned or pushed, as its registry serves it now.
	KindAuto Kind = "auto"
)

// Where an image baseline is looked up.
const (
	WhereAny      = ""         // local image store first, then the registry
	WhereLocal    = "local"    // only the local image store
	WhereRegistry = "registry" // only the registry
)

// Spec is a parsed --baseline argument.
type Spec struct {
	Kind  Kind
	Value string // the file path or image reference ("" for auto)
	Where string // for KindImage: WhereAny, WhereLocal or WhereRegistry
}

// String is the argument as the user would write it back.
func (s Spec) String() string {
	switch {
	case s.Kind == KindAuto:
		return "auto"
	case s.Where != WhereAny:
		return s.Where + ":" + s.Value
	}
	return s.Value
}

// ParseSpec reads a --baseline argument:
//
//	auto            the tag being scanned or pushed, as its registry serves it now
//	file:PATH       a report file
//	local:IMAGE     an image of the local image store
//	registry:IMAGE  an image as its registry serves it (NAME:TAG or NAME@DIGEST)
//	PATH or IMAGE   a file when one exists at that path (or the name ends in .json),
//	                else an image: local first, then the registry
//
// stat is os.Stat (a parameter for tests). An argument that is neither an existing
// file nor a valid image reference is an error naming it.
func ParseSpec(arg string, stat func(string) (os.FileInfo, error)) (Spec, error) {
	a := strings.TrimSpace(arg)
	if a == "" {
		return Spec{}, fmt.Errorf("--baseline is empty: give a report file, an image, or auto")
	}
	if a == "auto" {
		return Spec{Kind: KindAuto}, nil
	}
	if p, ok := strings.CutPrefix(a, "file:"); ok {
		return Spec{Kind: KindFile, Value: p}, nil
	}
	for _, w := range []string{WhereLocal, WhereRegistry} {
		if ref, ok := strings.CutPrefix(a, w+":"); ok {
			if _, err := reference.ParseNormalizedNamed(ref); err != nil {
				return Spec{}, fmt.Errorf("--baseline %s: %q is not an image reference (NAME:TAG or NAME@DIGEST): %v", a, ref, err)
			}
			return Spec{Kind: KindImage, Value: ref, Where: w}, nil
		}
	}
	if _, err := stat(a); err == nil || strings.HasSuffix(strings.ToLower(a), ".json") {
		return Spec{Kind: KindFile, Value: a}, nil
	}
	if fullID.MatchString(a) {
		// A full image ID without its algorithm (as `docker images --no-trunc -q`
		// prints it after "sha256:"): the reference grammar refuses 64 hex digits as a
		// name, so it is the local image of that ID.
		return Spec{Kind: KindImage, Value: "sha256:" + a, Where: WhereLocal}, nil
	}
	if _, err := reference.ParseNormalizedNamed(a); err != nil {
		return Spec{}, fmt.Errorf("--baseline %s: no such file, and not an image reference (NAME:TAG or NAME@DIGEST): give a report file, an image, or auto", a)
	}
	return Spec{Kind: KindImage, Value: a}, nil
}

// fullID is a full image ID's hex digits.
var fullID = regexp.MustCompile(`^[a-f0-9]{64}$`)
