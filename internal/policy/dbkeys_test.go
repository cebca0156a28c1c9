package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestPolicyDBRepositories(t *testing.T) {
	doc := "db:\n  repository: registry.example.com/trivy-db, mirror.example.com/aquasec/trivy-db:2\n  java-repository:\n    - registry.example.com/trivy-java-db\n"
	p, err := Parse("p.yaml", []byte(doc), now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"registry.example.com/trivy-db", "mirror.example.com/aquasec/trivy-db:2"}; !slices.Equal(p.DBRepositories, want) {
		t.Errorf("db.repository = %q, want %q", p.DBRepositories, want)
	}
	if want := []string{"registry.example.com/trivy-java-db"}; !slices.Equal(p.JavaDBRepositories, want) {
		t.Errorf("db.java-repository = %q, want %q", p.JavaDBRepositories, want)
	}
	if p, err := Parse("p.yaml", []byte("gate:\n  block: HIGH\n"), now); err != nil || p.DBRepositories != nil {
		t.Errorf("no db key: %q, %v", p.DBRepositories, err)
	}
	for _, tt := range []struct{ doc, want string }{
		{"db:\n  repository: \"Not A Reference!\"\n", "p.yaml:2: db.repository"},
		{"db:\n  repository: registry.example.com/trivy-db,\n", "db.repository: item 2 is empty"},
		{"db:\n  java-repository: [\"bad ref@@\"]\n", "p.yaml:2: db.java-repository"},
		{"db:\n  repo: registry.example.com/trivy-db\n", `unknown field "repo"`},
	} {
		_, err := Parse("p.yaml", []byte(tt.doc), now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}
