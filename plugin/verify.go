package plugin

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/attest"
	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/registry"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

type verifyOptions struct {
	keys       []string
	maxAge     string
	policyFile string
	format     string
	insecure   bool
	rescan     bool
	db         dbOptions
}

func newVerifyCommand(dockerCli command.Cli) *cobra.Command {
	opts := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [OPTIONS] NAME[:TAG]|NAME@DIGEST",
		Short: "Check the gate's verdict attached to an image in its registry (no daemon, no pull)",
		Long: `Find the verdict that 'docker secscan push --attach' attached to the image's digest
in its registry (for an index: to the index and to every platform manifest), and check it:
its signature with --key, its age with --max-age, and the recorded findings under today's
policy with --policy. Reads the registry only, with the docker config's credentials.

Examples:
  docker secscan verify registry.example.com/team/app:1.4.2
  docker secscan verify --key cosign.pub --max-age 168h registry.example.com/team/app@sha256:...
  docker secscan verify --rescan registry.example.com/team/app:1.4.2   # today's DB on the attached SBOM

Exit codes:
  0    every record says the gate passed (or passed with warnings)
  1    no record, a record too old, a bad signature, or an error
  2    a record says blocked (pushed in warn mode), or today's policy would block it`,
		Args: exactlyOneImage,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, dockerCli, args[0], opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.keys, "key", nil, "Public key (cosign.pub) the verdict must be signed with; repeatable (a record may verify with any of them, e.g. during a key rotation); unsigned records are then ignored")
	fs.StringVar(&opts.maxAge, "max-age", "", "Oldest acceptable record, e.g. 168h or 7d (default: any age)")
	fs.StringVar(&opts.policyFile, "policy", "", "Judge the recorded findings again under this policy file (today's policy)")
	fs.StringVarP(&opts.format, "format", "f", "table", "Output: table or json")
	fs.BoolVar(&opts.rescan, "rescan", false, "Also scan the attached SBOM with today's vulnerability DB (no image pull) and judge it under --policy (default: the policy file found as push finds it, else the defaults)")
	opts.db.addFlags(fs)
	fs.BoolVar(&opts.insecure, "insecure-registry", false, "Reach the registry over plain HTTP (as the daemon's insecure-registries; 127.0.0.1 and localhost are plain HTTP anyway)")
	return cmd
}

// verifyReport is `verify --format json`.
type verifyReport struct {
	Reference string         `json:"reference"`
	Digest    string         `json:"digest"`
	Outcome   string         `json:"outcome"`
	Checks    []attest.Check `json:"checks"`
}

func runVerify(cmd *cobra.Command, dockerCli command.Cli, input string, opts *verifyOptions) error {
	ctx := cmd.Context()
	if opts.format != "table" && opts.format != "json" {
		return failed(fmt.Errorf("--format %q: use table or json", opts.format))
	}
	var maxAge time.Duration
	if opts.maxAge != "" {
		d, err := policy.ParseDuration(opts.maxAge)
		if err != nil || d <= 0 {
			return failed(fmt.Errorf("--max-age %q: give a positive duration, e.g. 168h or 7d", opts.maxAge))
		}
		maxAge = d
	}
	named, err := reference.ParseNormalizedNamed(input)
	if err != nil {
		return failed(fmt.Errorf("invalid image reference %q: %v: give NAME:TAG or NAME@sha256:DIGEST", input, err))
	}
	named = reference.TagNameOnly(named)
	copts := attest.CheckOptions{MaxAge: maxAge, Now: time.Now()}
	for _, k := range opts.keys {
		pub, err := attest.LoadPublicKey(k)
		if err != nil {
			return failed(fmt.Errorf("--key: %v", err))
		}
		copts.Keys = append(copts.Keys, pub)
	}
	if opts.policyFile != "" {
		p, err := policy.Load(opts.policyFile, copts.Now)
		if err != nil {
			return failed(fmt.Errorf("--policy: %v", err))
		}
		copts.Policy = &p
	}
	if opts.rescan {
		if err := opts.prepareRescan(cmd, dockerCli, &copts); err != nil {
			return failed(err)
		}
	}
	ref, err := name.ParseReference(named.String(), registry.NameOptions(opts.insecure)...)
	if err != nil {
		return failed(fmt.Errorf("invalid image reference %q: %v", input, err))
	}
	creds, err := registryCredentials(dockerCli, reference.Domain(named))
	if err != nil {
		return failed(err)
	}
	ropts := registry.RemoteOptions(ctx, creds)
	targets, repo, err := attest.Subjects(ref, ropts...)
	if err != nil {
		return failedCtx(ctx, registry.Explain(err, reference.FamiliarString(named)))
	}
	rep := verifyReport{Reference: reference.FamiliarString(named), Digest: targets[0].Digest}
	for i, t := range targets {
		c, err := attest.CheckDigest(repo, t, copts, ropts...)
		if err != nil {
			return failedCtx(ctx, err)
		}
		if i == 0 && len(targets) > 1 && c.Verdict == nil && c.Outcome == attest.OutcomeInvalid && c.Reason == "no verdict record is attached" {
			// An index pushed by one platform's manifest has its records on the
			// platform manifests only: the index's own record is not required.
			c.Outcome, c.Reason = attest.OutcomePassed, "no record on the index itself: its platform manifests are checked"
		}
		rep.Checks = append(rep.Checks, c)
	}
	rep.Outcome = attest.Worst(rep.Checks)
	if opts.format == "json" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(dockerCli.Out(), string(b))
	} else {
		shown := rep.Reference
		if _, digested := named.(reference.Digested); !digested {
			shown += "@" + rep.Digest
		}
		fmt.Fprintln(dockerCli.Out(), shown)
		for _, c := range rep.Checks {
			fmt.Fprintf(dockerCli.Out(), "  %s\n", c.Describe())
			for _, n := range c.Notes {
				fmt.Fprintf(dockerCli.Out(), "    note: %s\n", n)
			}
			if c.Rejudged != "" {
				fmt.Fprintf(dockerCli.Out(), "    recorded findings under %s today: %s\n", copts.Policy.Source, c.RejudgedSummary)
			}
			if c.Rescanned != "" {
				fmt.Fprintf(dockerCli.Out(), "    attached SBOM with today's DB (updated %s): %s\n", c.RescanDB.UTC().Format(time.DateOnly), c.RescanSummary)
			}
		}
	}
	switch rep.Outcome {
	case attest.OutcomePassed:
		return nil
	case attest.OutcomeBlocked:
		return cli.StatusError{StatusCode: ExitBlocked, Status: "docker secscan: " + rep.Reference + " does not pass: " + firstOf(rep.Checks, attest.OutcomeBlocked)}
	}
	return cli.StatusError{StatusCode: ExitFailed, Status: "docker secscan: " + rep.Reference + ": " + firstOf(rep.Checks, attest.OutcomeInvalid)}
}

// firstOf is the reason of the first check with that outcome (and its platform).
func firstOf(checks []attest.Check, outcome string) string {
	for _, c := range checks {
		if c.Outcome == outcome {
			if c.Platform != "" {
				return c.Reason + " (" + c.Platform + ")"
			}
			return c.Reason
		}
	}
	return "no verdict record"
}

// prepareRescan sets up --rescan: the policy to judge with (--policy, else the policy
// file push would find, else the defaults), and the engine's SBOM scan with the DB
// flags (downloading the DB as a scan would, unless --skip-db-update).
func (o *verifyOptions) prepareRescan(cmd *cobra.Command, dockerCli command.Cli, copts *attest.CheckOptions) error {
	if copts.Policy == nil {
		p, _, err := loadDBPolicy("")
		if err != nil {
			return err
		}
		copts.Policy = &p
	}
	if err := o.db.resolveRepositories(cmd.Flags(), *copts.Policy, copts.Policy.Source); err != nil {
		return err
	}
	if err := o.db.validate(); err != nil {
		return err
	}
	eng, err := newEngine(dockerCli)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	copts.Rescan = func(sbom []byte, name string) (report.Scan, error) {
		res, err := eng.ScanSBOM(ctx, engine.SBOMScanRequest{DB: o.db.scannerDB(), Name: name, SBOM: sbom})
		if err != nil {
			return report.Scan{}, err
		}
		return res.Scan, nil
	}
	return nil
}
