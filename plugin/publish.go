package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/publish"
)

// publishOptions are the CI context and Application Insights flags of scan and push.
type publishOptions struct {
	connectionString string
	token            string
	required         bool
	timeout          time.Duration
	ciOverrides      []string
}

func (o *publishOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.connectionString, "appinsights-connection-string", "",
		"Application Insights connection string, or instrumentation key (default $APPLICATIONINSIGHTS_CONNECTION_STRING, then $APPINSIGHTS_INSTRUMENTATIONKEY)")
	fs.StringVar(&o.token, "publish-token", "", "Subscription token sent in the event's context, as Azure's action did (default $SECSCAN_PUBLISH_TOKEN)")
	// The name Azure's publish-security-assessments action gave the same input.
	fs.StringVar(&o.token, "subscription-token", "", "Same as --publish-token (the name Azure's publish-security-assessments action used)")
	fs.BoolVar(&o.required, "publish-required", false, "Exit 1 when the result cannot be published (it is still spooled); by default a failed publication only warns")
	fs.DurationVar(&o.timeout, "publish-timeout", 10*time.Second, "How long to wait for Application Insights to accept an event")
	fs.StringArrayVar(&o.ciOverrides, "ci", nil, "Override a detected CI field, FIELD=VALUE (repeatable; fields: "+strings.Join(ci.FieldNames(), ", ")+")")
}

// connection returns the parsed connection string, or ok=false when none is configured.
// A malformed connection string is a configuration error: it fails the run before
// any work (the user asked to publish), naming where it came from but not its value.
func (o *publishOptions) connection() (publish.ConnectionString, bool, error) {
	if o.timeout <= 0 {
		return publish.ConnectionString{}, false, fmt.Errorf("--publish-timeout %s: give a positive duration, e.g. 10s", o.timeout)
	}
	s, from := o.connectionString, "--appinsights-connection-string"
	if s == "" {
		s, from = os.Getenv("APPLICATIONINSIGHTS_CONNECTION_STRING"), "APPLICATIONINSIGHTS_CONNECTION_STRING"
	}
	if s == "" {
		s, from = os.Getenv("APPINSIGHTS_INSTRUMENTATIONKEY"), "APPINSIGHTS_INSTRUMENTATIONKEY"
	}
	if strings.TrimSpace(s) == "" {
		if o.required {
			return publish.ConnectionString{}, false, fmt.Errorf("--publish-required, but no Application Insights connection string is set (--appinsights-connection-string or APPLICATIONINSIGHTS_CONNECTION_STRING)")
		}
		return publish.ConnectionString{}, false, nil
	}
	cs, err := publish.ParseConnectionString(s)
	if err != nil {
		return cs, false, fmt.Errorf("%s: %v", from, err)
	}
	return cs, true, nil
}

func (o *publishOptions) tokenValue() string {
	if o.token != "" {
		return o.token
	}
	return os.Getenv("SECSCAN_PUBLISH_TOKEN")
}

func detectCI(overrides []string) (ci.Context, error) {
	wd, _ := os.Getwd()
	return ci.Detect(os.Getenv, wd, overrides)
}

func spoolDir(cacheDir string) string { return filepath.Join(cacheDir, "spool") }

// publishOutcome sends the scan's event (after re-sending what earlier runs spooled).
// A failure warns on stderr; with --publish-required it is returned as an error.
func publishOutcome(ctx context.Context, dockerCli command.Cli, out *scanOutcome, opts *gateOptions, digest string, pushed bool) error {
	// Every outcome is published from here once its push (if any) is decided: the job
	// summary is written now, so that it can name what was pushed.
	appendStepSummary(ctx, dockerCli, out, opts, digest, pushed)
	cs, ok, err := opts.publish.connection()
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	s := &publish.Sender{SpoolDir: spoolDir(opts.db.cacheDir), Timeout: opts.publish.timeout}
	if s.Pending() > 0 {
		sent, left, rerr := s.Retry(ctx)
		if sent > 0 {
			fmt.Fprintf(dockerCli.Err(), "Re-sent %d spooled event(s) to %s\n", sent, cs.Redacted())
		}
		if rerr != nil {
			fmt.Fprintf(dockerCli.Err(), "WARNING: %d spooled event(s) still not delivered: %v\n", left, rerr)
		}
	}
	ev := publish.ScanEvent{
		Scan: out.result.Scan, Verdict: out.verdict, PolicySource: out.source, CI: *opts.ci,
		Digest: digest, Pushed: pushed, Token: opts.publish.tokenValue(), RequestID: requestID(),
	}
	err = s.Publish(ctx, cs.TrackURL(), publish.Envelope(ev, cs, time.Now()))
	if err == nil {
		fmt.Fprintf(dockerCli.Err(), "Published the result to %s\n", cs.Redacted())
		return nil
	}
	if opts.publish.required {
		return fmt.Errorf("publishing to %s failed (--publish-required): %v", cs.Redacted(), err)
	}
	fmt.Fprintf(dockerCli.Err(), "WARNING: publishing to %s failed: %v\n", cs.Redacted(), err)
	return nil
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newCIContextCommand(dockerCli command.Cli) *cobra.Command {
	var overrides []string
	cmd := &cobra.Command{
		Use:   "ci-context",
		Short: "Print the CI context that results are tagged with (provider, run URL, commit, branch, ...)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := detectCI(overrides)
			if err != nil {
				return failed(err)
			}
			for _, name := range ci.FieldNames() {
				fmt.Fprintf(dockerCli.Out(), "%-15s %s\n", name, *c.Fields()[name])
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&overrides, "ci", nil, "Override a detected field, FIELD=VALUE (repeatable)")
	return cmd
}

func newPublishCommand(dockerCli command.Cli) *cobra.Command {
	var retry bool
	var cacheDir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "publish --retry",
		Short: "Send again the results that earlier runs could not deliver to Application Insights",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !retry {
				return failed(fmt.Errorf("'docker secscan publish' needs --retry (results are published by scan and push)"))
			}
			s := &publish.Sender{SpoolDir: spoolDir(cacheDir), Timeout: timeout}
			if s.Pending() == 0 {
				msg := "Nothing to send: the spool is empty."
				if dead, _ := filepath.Glob(filepath.Join(spoolDir(cacheDir), "failed", "*.json")); len(dead) > 0 {
					msg = fmt.Sprintf("Nothing to send. %d event(s) that failed %d times are kept in %s (move them back into %s to try again).", len(dead), publish.MaxAttempts, filepath.Join(spoolDir(cacheDir), "failed"), spoolDir(cacheDir))
				}
				fmt.Fprintln(dockerCli.Err(), msg)
				return nil
			}
			sent, left, err := s.Retry(cmd.Context())
			fmt.Fprintf(dockerCli.Err(), "Sent %d event(s); %d still spooled in %s\n", sent, left, s.SpoolDir)
			if err != nil {
				return failed(fmt.Errorf("%d event(s) not delivered: %v", left, err))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&retry, "retry", false, "Re-send every spooled event, deleting each once accepted")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", defaultCacheDir(), "Cache folder holding the spool")
	cmd.Flags().DurationVar(&timeout, "publish-timeout", 10*time.Second, "How long to wait for each event to be accepted")
	return cmd
}
