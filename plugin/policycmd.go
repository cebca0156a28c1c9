package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/policy"
)

func newPolicyCommand(dockerCli command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check the gate policy",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	opts := &gateOptions{}
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a policy file and print the effective policy (after imports and flags) as JSON",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return failed(fmt.Errorf("'docker secscan policy check' takes at most one policy file, got %d", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.policyFile != "" && opts.policyFile != args[0] {
					return failed(fmt.Errorf("give the policy file once: as the argument (%s) or with --policy (%s)", args[0], opts.policyFile))
				}
				opts.policyFile = args[0]
			}
			pol, source, err := opts.resolvePolicy(cmd, time.Now())
			if err != nil {
				return failed(err)
			}
			b, err := json.MarshalIndent(pol, "", "  ")
			if err != nil {
				return failed(err)
			}
			// The exceptions' state today, as a scan would note it.
			now := time.Now()
			for _, e := range pol.Exceptions {
				switch {
				case e.Expires.IsZero():
				case !now.Before(e.Expires):
					fmt.Fprintf(dockerCli.Err(), "note: exception %s (%s) expired on %s and no longer applies\n", e.ID, e.Source, e.Expires.UTC().Format(time.DateOnly))
				case e.Expires.Sub(now) <= pol.WarnBefore:
					fmt.Fprintf(dockerCli.Err(), "note: exception %s (%s) expires on %s\n", e.ID, e.Source, e.Expires.UTC().Format(time.DateOnly))
				}
			}
			printImports(dockerCli.Err(), pol)
			fmt.Fprintf(dockerCli.Err(), "policy OK: %s (%d exceptions)\n", source, len(pol.Exceptions))
			fmt.Fprintln(dockerCli.Out(), string(b))
			return nil
		},
	}
	opts.addFlags(check.Flags())
	for _, hidden := range []string{"format", "output", "report", "baseline", "db-repository", "java-db-repository", "cache-dir", "skip-db-update", "no-progress",
		"appinsights-connection-string", "publish-token", "subscription-token", "publish-required", "publish-timeout", "ci"} {
		_ = check.Flags().MarkHidden(hidden)
	}
	cmd.AddCommand(check)
	return cmd
}

// printImports says which import files were found and read (path, format, entries, and
// how a file was found when it was not the name given), or where they were looked for.
func printImports(w io.Writer, pol policy.Policy) {
	for _, f := range pol.Imported {
		note := ""
		if f.Note != "" {
			note = "; " + f.Note
		}
		fmt.Fprintf(w, "imported %s (%s: %d %s%s)\n", f.Path, f.Format, f.Exceptions, map[bool]string{true: "entry", false: "entries"}[f.Exceptions == 1], note)
		for _, n := range f.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
	if len(pol.Imported) > 0 {
		return
	}
	if pol.Source == "defaults" {
		fmt.Fprintf(w, "no import files found: looked for %s in the working directory (or $TRIVY_IGNOREFILE, or ignorefile in trivy.yaml) and .github/containerscan/%s in the working directory, the git root and $GITHUB_WORKSPACE\n",
			strings.Join(policy.TrivyIgnoreNames, ", "), strings.Join(policy.AllowlistNames, " or "))
	} else {
		fmt.Fprintf(w, "no import files: a policy file reads only the imports it names (imports.allowlist, imports.trivyignore, imports.vex)\n")
	}
}
