package raw

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// TestErrPermission: ErrPermission, and the refusals that are it, match
// both it and os.ErrPermission, keep the system's error, and say what
// happened, not what to do about it.
func TestErrPermission(t *testing.T) {
	refusal := &permissionError{os.NewSyscallError("socket AF_PACKET", syscall.EPERM)}
	for _, c := range []struct {
		err  error
		msg  string
		errn error
	}{
		{ErrPermission, "raw sockets need CAP_NET_RAW", nil},
		{fmt.Errorf("open: %w", ErrPermission), "open: raw sockets need CAP_NET_RAW", nil},
		{refusal, "raw sockets need CAP_NET_RAW: socket AF_PACKET: operation not permitted", syscall.EPERM},
		{fmt.Errorf("listen: %w", refusal), "listen: raw sockets need CAP_NET_RAW: socket AF_PACKET: operation not permitted", syscall.EPERM},
	} {
		if !errors.Is(c.err, ErrPermission) || !errors.Is(c.err, os.ErrPermission) || c.err.Error() != c.msg {
			t.Errorf("%q: is ErrPermission %v, os.ErrPermission %v; want %q", c.err, errors.Is(c.err, ErrPermission), errors.Is(c.err, os.ErrPermission), c.msg)
		}
		if c.errn != nil && !errors.Is(c.err, c.errn) {
			t.Errorf("%q lost %v", c.err, c.errn)
		}
	}
	for _, err := range []error{os.ErrPermission, syscall.EPERM, ErrNotSupported, ErrFirewall} {
		if errors.Is(err, ErrPermission) {
			t.Errorf("%q is ErrPermission", err)
		}
	}
}
