package main

import (
	"errors"
	"os"
)

// privilegeHint is what the user can do when raw sockets are refused.
const privilegeHint = "run as root, or give the binary the capability with: sudo setcap cap_net_raw,cap_net_admin+ep $(command -v synprobe)"

// withHint adds privilegeHint to an error of opening the raw sockets that
// says the process lacks the privilege (os.ErrPermission, which
// raw.ErrPermission is); other errors, and nil, come back as they are.
// The packages below say what happened; the words for the user are
// synprobe's. Adding the hint twice adds it once.
func withHint(err error) error {
	var h *hintError
	if err == nil || !errors.Is(err, os.ErrPermission) || errors.As(err, &h) {
		return err
	}
	return &hintError{err: err, hint: privilegeHint}
}

// hintError is err, with a hint for the user after its message.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *hintError) Unwrap() error { return e.err }
