package fleet_test

import (
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestComposeFileIsValid: the example compose file parses as YAML (an unquoted value
// holding ": " does not), has the two services, gives Redis a password that the Trivy
// server uses, and does not publish Redis on every interface.
func TestComposeFileIsValid(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Name     string `yaml:"name"`
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml is not valid YAML:\n%v", err)
	}
	trivy, redis := f.Services["trivy"], f.Services["redis"]
	if trivy.Image != "aquasec/trivy:0.74.0" || !strings.HasPrefix(redis.Image, "redis:") {
		t.Fatalf("services: %+v", f.Services)
	}
	if tok := trivy.Environment["TRIVY_TOKEN"]; !strings.HasPrefix(tok, "${TRIVY_TOKEN:?") {
		t.Errorf("TRIVY_TOKEN = %q: it must be required", tok)
	}
	if !strings.Contains(strings.Join(redis.Command, " "), "--requirepass") {
		t.Errorf("Redis has no password: %q", redis.Command)
	}
	if be := trivy.Environment["TRIVY_CACHE_BACKEND"]; !strings.HasPrefix(be, "redis://:${REDIS_PASSWORD") {
		t.Errorf("the server's cache backend does not give Redis's password: %q", be)
	}
	for _, p := range redis.Ports {
		if strings.Count(p, ":") < 2 || strings.HasPrefix(p, "0.0.0.0:") {
			t.Errorf("Redis is published on every interface: %q", p)
		}
	}
}
