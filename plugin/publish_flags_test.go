package plugin

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestSubscriptionTokenIsPublishToken: --subscription-token, the input name of Azure's
// publish-security-assessments action, sets the same token as --publish-token.
func TestSubscriptionTokenIsPublishToken(t *testing.T) {
	for _, args := range [][]string{{"--subscription-token", "tok-a"}, {"--publish-token", "tok-a"}, {"--subscription-token=tok-a"}} {
		var o publishOptions
		fs := pflag.NewFlagSet("push", pflag.ContinueOnError)
		o.addFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got := o.tokenValue(); got != "tok-a" {
			t.Errorf("%v: token %q, want tok-a", args, got)
		}
	}
	t.Setenv("SECSCAN_PUBLISH_TOKEN", "from-env")
	var o publishOptions
	fs := pflag.NewFlagSet("push", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse(nil); err != nil || o.tokenValue() != "from-env" {
		t.Errorf("without a flag the token is $SECSCAN_PUBLISH_TOKEN: %q %v", o.tokenValue(), err)
	}
}
