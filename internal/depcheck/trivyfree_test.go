package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPluginDoesNotLinkTrivy guards the split of design note 14: the plugin binary
// (started on every `docker --help` and hook) links no Trivy package, not even through
// the fleet code (the Trivy server and Redis are reached without Trivy's packages there;
// the engine uses Trivy's client, remote cache and Redis backend).
func TestPluginDoesNotLinkTrivy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "../../cmd/docker-secscan").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/aquasecurity/trivy/") || strings.HasPrefix(p, "github.com/aquasecurity/trivy-db/") {
			t.Fatalf("cmd/docker-secscan links %s: keep Trivy in internal/scanner and cmd/secscan-engine", p)
		}
		// The JSON Schema validator costs milliseconds of package initialisation on every
		// start: the verdict schema is checked in tests (internal/attest/verdictschema).
		if strings.HasPrefix(p, "github.com/santhosh-tekuri/jsonschema") {
			t.Fatalf("cmd/docker-secscan links %s: validate schemas in tests, not in the plugin", p)
		}
	}
}
