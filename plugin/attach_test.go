package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/policy"
)

func TestAttachFlagsAndPolicy(t *testing.T) {
	on := policy.Defaults()
	on.Attach = true
	off := policy.Defaults()
	for _, tc := range []struct {
		name      string
		opts      attachOptions
		attachSet bool
		pol       policy.Policy
		want      bool
		err       string
	}{
		{"nothing", attachOptions{}, false, off, false, ""},
		{"policy", attachOptions{}, false, on, true, ""},
		{"--attach", attachOptions{attach: true}, true, off, true, ""},
		{"--attach=false wins over the policy", attachOptions{attach: false}, true, on, false, ""},
		{"--attach-required attaches", attachOptions{required: true}, false, off, true, ""},
		{"--attach=false --attach-required", attachOptions{required: true}, true, off, false, "contradicts"},
		{"--sign-key of a missing file", attachOptions{signKey: "/nonexistent/cosign.key"}, false, off, true, "--sign-key: signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			err := o.prepare(tc.pol, tc.attachSet)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || o.on != tc.want {
				t.Fatalf("on %v, %v; want %v", o.on, err, tc.want)
			}
		})
	}
}

func TestBaselineFlagsThatDoNothingAreRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--baseline", ""}, "--baseline is empty"},
		{[]string{"--new-only"}, "--new-only needs --baseline"},
	} {
		o := &gateOptions{}
		fs := pflag.NewFlagSet("push", pflag.ContinueOnError)
		o.addFlags(fs)
		o.db.cacheDir = t.TempDir()
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.resolvePolicyFlags(fs, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
