package engine

import (
	"strings"
	"testing"
)

func TestParseDBRepositoriesNeverEchoesCredentials(t *testing.T) {
	for _, in := range []string{"https://user:SeCrEtPw@127.0.0.1:5990/db", "oci://tok@registry.example.com/db"} {
		_, err := ParseDBRepositories([]string{in}, "db-repository", 2)
		if err == nil || strings.Contains(err.Error(), "SeCrEtPw") || strings.Contains(err.Error(), "tok@") || strings.Contains(err.Error(), "name.Insecure") {
			t.Errorf("%s: %v", in, err)
		}
	}
	refs, err := ParseDBRepositories([]string{"127.0.0.1:5000/trivy-db"}, "db-repository", 2)
	if err != nil || len(refs) != 1 || refs[0].String() != "127.0.0.1:5000/trivy-db:2" {
		t.Fatalf("a plain repository gets the schema tag: %v %v", refs, err)
	}
}
