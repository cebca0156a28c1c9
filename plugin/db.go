package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
)

func newDBCommand(dockerCli command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Show, update or import the vulnerability DB",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDBStatusCommand(dockerCli), newDBUpdateCommand(dockerCli), newDBImportCommand(dockerCli), newDBMirrorCommand(dockerCli))
	return cmd
}

func newDBStatusCommand(dockerCli command.Cli) *cobra.Command {
	var cacheDir, format, policyFile string
	var fo fleetOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cached vulnerability DB (or the Trivy server's): schema, updated-at, next update, downloaded-at, source",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st engine.DBStatus
			srv, err := serverDBStatus(cmd, &fo, policyFile)
			if err != nil {
				return failedCtx(cmd.Context(), err)
			}
			if srv != nil {
				st = *srv
			} else {
				eng, err := newEngine(dockerCli)
				if err != nil {
					return failed(err)
				}
				st, err = eng.DBStatus(cmd.Context(), cacheDir)
				if errors.Is(err, engine.ErrNoDB) {
					return failed(fmt.Errorf("%v: run 'docker secscan db update'", err))
				}
			}
			if err != nil {
				return failed(err)
			}
			switch format {
			case "json":
				b, _ := json.MarshalIndent(st, "", "  ")
				fmt.Fprintln(dockerCli.Out(), string(b))
			case "table":
				w := dockerCli.Out()
				if srv == nil {
					fmt.Fprintf(w, "Path:          %s\n", st.Path)
				}
				fmt.Fprintf(w, "Schema:        %d\n", st.SchemaVersion)
				fmt.Fprintf(w, "Updated at:    %s\n", st.UpdatedAt.UTC().Format(time.RFC3339))
				fmt.Fprintf(w, "Next update:   %s\n", st.NextUpdate.UTC().Format(time.RFC3339))
				fmt.Fprintf(w, "Downloaded at: %s\n", st.DownloadedAt.UTC().Format(time.RFC3339))
				fmt.Fprintf(w, "Source:        %s\n", dashIfEmpty(st.Source))
				age := time.Since(st.UpdatedAt)
				state := "current"
				if time.Now().After(st.NextUpdate) {
					state = fmt.Sprintf("stale: its next update was due %s ago (run 'docker secscan db update')", days(time.Since(st.NextUpdate)))
					if srv != nil {
						state = fmt.Sprintf("stale: its next update was due %s ago (the Trivy server updates it every hour from its --db-repository)", days(time.Since(st.NextUpdate)))
					}
				}
				fmt.Fprintf(w, "Age:           %s, %s\n", days(age), state)
				if j := st.JavaDB; j != nil {
					fmt.Fprintf(w, "Java DB:       schema %d, updated at %s, source %s\n", j.SchemaVersion, j.UpdatedAt.UTC().Format(time.RFC3339), dashIfEmpty(j.Source))
				}
			default:
				return failed(fmt.Errorf("--format %q is not supported: use table or json", format))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache-dir", defaultCacheDir(), "Cache folder for the vulnerability DB")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "Output format: table or json")
	fo.addServerFlags(cmd.Flags())
	cmd.Flags().StringVar(&policyFile, "policy", "", "Policy file whose scan.server applies (default: "+policy.DefaultFileName+" in the working directory, else in the git root)")
	return cmd
}

func newDBUpdateCommand(dockerCli command.Cli) *cobra.Command {
	opts := &dbOptions{}
	var javaDB bool
	var policyFile string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download the vulnerability DB now (replaces the cached one only when the new one is valid)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return failed(err)
			}
			if opts.skipUpdate {
				return failed(errors.New("--skip-db-update makes no sense with 'db update'"))
			}
			pol, polPath, err := loadDBPolicy(policyFile)
			if err != nil {
				return failed(err)
			}
			if err := opts.resolveRepositories(cmd.Flags(), pol, polPath); err != nil {
				return failed(err)
			}
			eng, err := newEngine(dockerCli)
			if err != nil {
				return failed(err)
			}
			withJava := javaDB || cmd.Flags().Changed("java-db-repository")
			st, err := eng.UpdateDB(cmd.Context(), opts.scannerDB(), true, withJava)
			if err != nil {
				return failedCtx(cmd.Context(), dbUpdateError(err))
			}
			src := "Trivy's default repositories"
			if len(opts.repositories) > 0 {
				src = strings.Join(opts.repositories, ", ")
			}
			if st.Source != "" {
				src = st.Source
			}
			fmt.Fprintf(dockerCli.Err(), "Vulnerability DB updated from %s: schema %d, updated at %s\n",
				src, st.SchemaVersion, st.UpdatedAt.UTC().Format(time.RFC3339))
			if withJava {
				fmt.Fprintln(dockerCli.Err(), "Java DB updated")
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&javaDB, "java-db", false, "Also download Trivy's Java DB (needed to scan .jar files offline; implied by --java-db-repository)")
	cmd.Flags().StringVar(&policyFile, "policy", "", "Policy file whose db.repository and db.java-repository apply (default: "+policy.DefaultFileName+" in the working directory, else in the git root)")
	return cmd
}

// days renders a duration as whole days, or hours below a day.
func days(d time.Duration) string {
	if d < 24*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
