package scanner

import (
	"testing"

	"github.com/aquasecurity/trivy/pkg/types"
)

func TestOnePlatform(t *testing.T) {
	rep := types.Report{Results: types.Results{
		{Target: "img (alpine 3.9.4) [linux/amd64]"},
		{Target: "img (alpine 3.20.3) [linux/arm64/v8]"},
		{Target: "app/go.sum [linux/arm64/v8]"},
	}}
	two := []string{"linux/amd64", "linux/arm64/v8"}
	got, err := onePlatform(rep, "linux/arm64/v8", two)
	if err != nil || len(got.Results) != 2 || got.Results[0].Target != "img (alpine 3.20.3)" || got.Results[1].Target != "app/go.sum" {
		t.Fatalf("arm64: %+v, %v", got.Results, err)
	}
	if rep.Results[1].Target != "img (alpine 3.20.3) [linux/arm64/v8]" {
		t.Fatal("onePlatform changed its input")
	}
	// A platform image with no results gives none, never another platform's.
	if got, err := onePlatform(rep, "linux/s390x", []string{"linux/amd64", "linux/s390x"}); err != nil || len(got.Results) != 0 {
		t.Fatalf("s390x: %+v, %v", got.Results, err)
	}
	if _, err := onePlatform(rep, "linux/ppc64le", two); err == nil {
		t.Fatal("a platform the scan lacks was accepted")
	}
	// A single-platform scan keeps Trivy's targets.
	one := types.Report{Results: types.Results{{Target: "img (alpine 3.9.4)"}}}
	if got, err := onePlatform(one, "linux/amd64", []string{"linux/amd64"}); err != nil || len(got.Results) != 1 {
		t.Fatalf("single: %+v, %v", got.Results, err)
	}
	if _, err := onePlatform(one, "linux/arm64", []string{"linux/amd64"}); err == nil {
		t.Fatal("single-platform scan: another platform was accepted")
	}
}
