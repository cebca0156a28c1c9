package plugin

import (
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// The fleet settings' order: the flag, then the environment, then the policy.
func TestFleetSettingOrder(t *testing.T) {
	for _, tc := range []struct {
		name             string
		flagSet          bool
		env, policy      string
		wantVal, wantSrc string
	}{
		{"flag wins", true, "http://env:1", "http://pol:1", "http://flag:1", "--server"},
		{"then the environment", false, "http://env:1", "http://pol:1", "http://env:1", "$" + engine.ServerEnv},
		{"then the policy", false, "", "http://pol:1", "http://pol:1", ".secscan.yaml scan.server"},
		{"else the default", false, "", "", "", "--server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(engine.ServerEnv, tc.env)
			flagValue := ""
			if tc.flagSet {
				flagValue = "http://flag:1"
			}
			v, src := setting(tc.flagSet, flagValue, "--server", engine.ServerEnv, tc.policy, ".secscan.yaml scan.server")
			if v != tc.wantVal || src != tc.wantSrc {
				t.Fatalf("%q from %q, want %q from %q", v, src, tc.wantVal, tc.wantSrc)
			}
		})
	}
}
