package plugin

import (
	"regexp"
	"strings"
)

// hintError is an error whose message was made true for the command that prints it;
// errors.Is and errors.As still see the original.
type hintError struct {
	msg string
	err error
}

func (e hintError) Error() string { return e.msg }
func (e hintError) Unwrap() error { return e.err }

// skipUpdateHint is a clause of the engine's DB errors that suggests --skip-db-update,
// an option of scan and push that 'db update' refuses.
var skipUpdateHint = regexp.MustCompile(`(?:,? or|;|:)? [^;:,()]*--skip-db-update[^;,()]*`)

// dbUpdateError keeps the hints of a failed 'db update' true for it: no suggestion of
// --skip-db-update; it says instead that the cached DB, if any, is unchanged.
func dbUpdateError(err error) error {
	if err == nil || !strings.Contains(err.Error(), "--skip-db-update") {
		return err
	}
	msg := skipUpdateHint.ReplaceAllString(err.Error(), "")
	msg = strings.TrimRight(msg, " ,;:") + " (the cached DB, if any, is unchanged)"
	return hintError{msg: msg, err: err}
}
