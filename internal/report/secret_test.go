package report

import "testing"

func TestSecretLocationIsFileAndLine(t *testing.T) {
	f := Finding{Kind: KindSecret, VulnerabilityID: "aws-access-key-id", PkgPath: "/app/config.env", StartLine: 3}
	if got := f.Location(); got != "/app/config.env:3" {
		t.Fatalf("secret location %q", got)
	}
	f.StartLine = 0
	if got := f.Location(); got != "/app/config.env" {
		t.Fatalf("secret without a line %q", got)
	}
	v := Finding{Kind: KindVulnerability, PkgName: "musl", PkgPath: "/lib/x"}
	if got := v.Location(); got != "musl" {
		t.Fatalf("vulnerability location %q", got)
	}
}
