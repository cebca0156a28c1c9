package testenv

import (
	"strings"
	"testing"
)

func TestSelectEngines(t *testing.T) {
	for in, want := range map[string]string{"": "20.10,29", "29": "29", " docker-29 , 20.10": "20.10,29", "20.10": "20.10"} {
		got, err := SelectEngines(in, "X")
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("SelectEngines(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := SelectEngines("28", "SECSCAN_E2E_ENGINES"); err == nil || !strings.Contains(err.Error(), "SECSCAN_E2E_ENGINES") {
		t.Errorf("an unknown engine: %v", err)
	}
}
