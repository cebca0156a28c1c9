//go:build !linux

package main

import (
	"fmt"
	"os"
)

// serve: the warm engine needs Linux (descriptors passed over a unix socket).
func serve([]string) int {
	fmt.Fprintln(os.Stderr, "secscan-engine serve: no warm engine on this system")
	return 1
}
