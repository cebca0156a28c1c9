package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
)

// repositoryPrecedence is said in --help and the README.
const repositoryPrecedence = "flag > $%s > %s in the policy file > the repository the cached DB came from > Trivy's default"

// resolveRepositories applies the DB repository settings in their order: the flags,
// then $SECSCAN_DB_REPOSITORY / $SECSCAN_JAVA_DB_REPOSITORY (comma-separated, as
// Trivy's TRIVY_DB_REPOSITORY), then the policy's db.repository / db.java-repository.
// Left empty, the engine uses the repository the cached DB came from, else Trivy's
// default. policyPath names the policy file ("" for none).
func (o *dbOptions) resolveRepositories(fl *pflag.FlagSet, p policy.Policy, policyPath string) error {
	var err error
	o.repositories, o.repositoriesFrom, err = resolveRepositorySetting(fl, "db-repository", o.repositories,
		engine.DBRepositoryEnv, p.DBRepositories, policyPath, "db.repository", engine.DBSchemaVersion)
	if err != nil {
		return err
	}
	o.javaRepositories, o.javaRepositoriesFrom, err = resolveRepositorySetting(fl, "java-db-repository", o.javaRepositories,
		engine.JavaDBRepositoryEnv, p.JavaDBRepositories, policyPath, "db.java-repository", engine.JavaDBSchemaVersion)
	return err
}

func resolveRepositorySetting(fl *pflag.FlagSet, flag string, flagValue []string, env string, fromPolicy []string, policyPath, key string, schema int) ([]string, string, error) {
	if fl != nil && fl.Changed(flag) && len(flagValue) > 0 {
		return flagValue, "--" + flag, nil
	}
	if v := os.Getenv(env); v != "" {
		refs := policy.SplitList(v)
		for _, r := range refs {
			if _, err := engine.ParseDBRepositories([]string{r}, flag, schema); err != nil {
				return nil, "", fmt.Errorf("$%s=%q: %q is not an OCI repository: give REGISTRY/REPOSITORY[:TAG], comma-separated, or unset it", env, v, r)
			}
		}
		return refs, "$" + env, nil
	}
	if len(fromPolicy) > 0 {
		return fromPolicy, policyPath + " " + key, nil
	}
	return nil, "", nil
}

// loadDBPolicy reads the policy file (--policy, else .secscan.yaml in the working
// directory or the git root) for the db commands, which only use its db settings.
func loadDBPolicy(flag string) (policy.Policy, string, error) {
	path, err := findPolicyFile(flag)
	if err != nil || path == "" {
		return policy.Defaults(), "", err
	}
	p, err := policy.Load(path, time.Now())
	return p, path, err
}

func newDBImportCommand(dockerCli command.Cli) *cobra.Command {
	var cacheDir string
	var javaDB bool
	cmd := &cobra.Command{
		Use:   "import [--java-db] FILE|DIR",
		Short: "Import a vulnerability DB (or the Java DB) carried in from elsewhere, for air-gapped sites",
		Long: `Import a vulnerability DB without network access. FILE|DIR is one of:
  - Trivy's db.tar.gz (javadb.tar.gz with --java-db): the layer of the DB artifact
  - a folder with trivy.db and metadata.json (trivy-java.db and metadata.json with
    --java-db), e.g. the db folder of another Trivy or docker secscan cache
  - an OCI image layout of the DB artifact, as 'oras copy --to-oci-layout',
    'crane pull --format=oci' or 'skopeo copy ... oci:DIR' save it (or its tar)
The DB's schema, metadata and file are checked, then it replaces the cached one at
once (the cached DB is never half written, and unchanged when the input is bad).
'docker secscan db status' then says "imported from PATH". An imported DB is not
replaced by a download unless a DB repository is set (--db-repository,
$SECSCAN_DB_REPOSITORY, db.repository) or 'docker secscan db update' is run.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return failed(fmt.Errorf("%q needs exactly one FILE or DIR (Trivy's db.tar.gz, a folder with trivy.db and metadata.json, or an OCI layout of the DB artifact), got %d: run '%s --help'", cmd.CommandPath(), len(args), cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o := dbOptions{cacheDir: cacheDir}
			if err := o.validate(); err != nil {
				return failed(err)
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return failed(err)
			}
			eng, err := newEngine(dockerCli)
			if err != nil {
				return failed(err)
			}
			st, err := eng.ImportDB(cmd.Context(), engine.DBImportRequest{CacheDir: cacheDir, Path: path, JavaDB: javaDB})
			if err != nil {
				return failedCtx(cmd.Context(), err)
			}
			// Cached scans are keyed by the DB's update time: an imported DB may carry
			// the same time with other content (a DB built elsewhere), so the scans made
			// with the previous one are dropped rather than reused.
			if err := os.RemoveAll(filepath.Join(cacheDir, "scans")); err != nil {
				return failed(fmt.Errorf("the DB was imported, but the scans cached with the previous one could not be removed (%v): remove %s", err, filepath.Join(cacheDir, "scans")))
			}
			if javaDB {
				if j := st.JavaDB; j != nil {
					fmt.Fprintf(dockerCli.Err(), "Java DB imported from %s: schema %d, updated at %s\n", path, j.SchemaVersion, j.UpdatedAt.UTC().Format(time.RFC3339))
				}
				return nil
			}
			fmt.Fprintf(dockerCli.Err(), "Vulnerability DB imported from %s: schema %d, updated at %s\n", path, st.SchemaVersion, st.UpdatedAt.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache-dir", defaultCacheDir(), "Cache folder for the vulnerability DB")
	cmd.Flags().BoolVar(&javaDB, "java-db", false, "Import Trivy's Java DB (javadb.tar.gz, trivy-java.db) instead of the vulnerability DB")
	return cmd
}
