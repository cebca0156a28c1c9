// Command pindeps raises every module that docker/cli's vendor.mod requires to at least
// that version in go.mod (`go get PATH@VERSION`), repeating until nothing is below.
// Run it from the module root after changing the docker/cli or Trivy version:
// `make pin-deps`.
package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/docker-secscan/docker-secscan/internal/depcheck"
)

func main() {
	for round := 0; round < 5; round++ {
		sel, cliDir, err := depcheck.Selected(".")
		if err != nil {
			fmt.Fprintln(os.Stderr, "pindeps:", err)
			os.Exit(1)
		}
		short, err := depcheck.Check(depcheck.VendorMod(cliDir), sel)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pindeps:", err)
			os.Exit(1)
		}
		if len(short) == 0 {
			fmt.Println("pindeps: every docker/cli requirement is met")
			return
		}
		args := []string{"get"}
		for _, s := range short {
			fmt.Println("pindeps: raising", s)
			args = append(args, s.Path+"@"+s.Required)
		}
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "pindeps: go get failed:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintln(os.Stderr, "pindeps: versions did not settle after 5 rounds")
	os.Exit(1)
}
