package plugin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestDBRepositoryPrecedence: flag > $SECSCAN_DB_REPOSITORY > the policy's db.repository
// (> the engine's choice: the cached DB's source, else Trivy's default).
func TestDBRepositoryPrecedence(t *testing.T) {
	for _, k := range []string{"TRIVY_IGNOREFILE", "TRIVY_CONFIG", "GITHUB_WORKSPACE", "GITHUB_ACTIONS", "TF_BUILD", "GITLAB_CI", "JENKINS_URL", "SECSCAN_DB_REPOSITORY", "SECSCAN_JAVA_DB_REPOSITORY"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	_ = os.WriteFile(filepath.Join(dir, ".git"), nil, 0o644)
	policyFile := filepath.Join(dir, ".secscan.yaml")
	if err := os.WriteFile(policyFile, []byte("db:\n  repository: policy.example.com/trivy-db\n  java-repository: policy.example.com/trivy-java-db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resolve := func(args ...string) (*gateOptions, error) {
		o := &gateOptions{}
		fs := pflag.NewFlagSet("scan", pflag.ContinueOnError)
		o.addFlags(fs)
		if err := fs.Parse(append([]string{"--cache-dir", t.TempDir()}, args...)); err != nil {
			t.Fatal(err)
		}
		_, _, err := o.resolvePolicyFlags(fs, time.Now())
		return o, err
	}
	check := func(o *gateOptions, repos []string, from string, java []string, javaFrom string) {
		t.Helper()
		db := o.db.scannerDB()
		if !slices.Equal(db.Repositories, repos) || db.RepositoriesFrom != from || !slices.Equal(db.JavaRepositories, java) || db.JavaRepositoriesFrom != javaFrom {
			t.Errorf("got %q from %q, java %q from %q; want %q from %q, java %q from %q", db.Repositories, db.RepositoriesFrom, db.JavaRepositories, db.JavaRepositoriesFrom, repos, from, java, javaFrom)
		}
	}

	o, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	check(o, []string{"policy.example.com/trivy-db"}, ".secscan.yaml db.repository", []string{"policy.example.com/trivy-java-db"}, ".secscan.yaml db.java-repository")

	t.Setenv("SECSCAN_DB_REPOSITORY", "env.example.com/trivy-db, env2.example.com/trivy-db:2")
	t.Setenv("SECSCAN_JAVA_DB_REPOSITORY", "env.example.com/trivy-java-db")
	o, err = resolve()
	if err != nil {
		t.Fatal(err)
	}
	check(o, []string{"env.example.com/trivy-db", "env2.example.com/trivy-db:2"}, "$SECSCAN_DB_REPOSITORY", []string{"env.example.com/trivy-java-db"}, "$SECSCAN_JAVA_DB_REPOSITORY")

	o, err = resolve("--db-repository", "flag.example.com/trivy-db")
	if err != nil {
		t.Fatal(err)
	}
	check(o, []string{"flag.example.com/trivy-db"}, "--db-repository", []string{"env.example.com/trivy-java-db"}, "$SECSCAN_JAVA_DB_REPOSITORY")

	t.Setenv("SECSCAN_DB_REPOSITORY", "Not A Reference!")
	if _, err := resolve(); err == nil || !strings.Contains(err.Error(), "$SECSCAN_DB_REPOSITORY") {
		t.Errorf("a bad $SECSCAN_DB_REPOSITORY: %v", err)
	}

	// No setting anywhere: empty, for the engine to choose.
	t.Setenv("SECSCAN_DB_REPOSITORY", "")
	t.Setenv("SECSCAN_JAVA_DB_REPOSITORY", "")
	_ = os.Remove(policyFile)
	o, err = resolve()
	if err != nil {
		t.Fatal(err)
	}
	check(o, nil, "", nil, "")
}
