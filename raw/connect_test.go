package raw

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/labtest"
)

// TestClassify: each error a connect can end with counts as the sentinel
// it is, keeps the system's error (and its message), and nothing else is
// given a sentinel.
func TestClassify(t *testing.T) {
	netTimeout := &net.OpError{Op: "dial", Net: "tcp4", Err: os.ErrDeadlineExceeded}
	for _, c := range []struct {
		name string
		err  error
		kind error // nil: none
		keep error // what errors.Is must still find
	}{
		{"refused", os.NewSyscallError("connect", syscall.ECONNREFUSED), ErrRefused, syscall.ECONNREFUSED},
		{"host unreachable", os.NewSyscallError("connect", syscall.EHOSTUNREACH), ErrUnreachable, syscall.EHOSTUNREACH},
		{"network unreachable", os.NewSyscallError("connect", syscall.ENETUNREACH), ErrUnreachable, syscall.ENETUNREACH},
		{"deadline", os.ErrDeadlineExceeded, ErrTimeout, os.ErrDeadlineExceeded},
		{"kernel gave up (ETIMEDOUT)", os.NewSyscallError("connect", syscall.ETIMEDOUT), ErrTimeout, syscall.ETIMEDOUT},
		{"dialer's timeout", netTimeout, ErrTimeout, os.ErrDeadlineExceeded},
		{"dialer's refusal", &net.OpError{Op: "dial", Net: "tcp4", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, ErrRefused, syscall.ECONNREFUSED},
		{"interrupted", context.Canceled, nil, context.Canceled},
		{"anything else", os.NewSyscallError("connect", syscall.EACCES), nil, syscall.EACCES},
	} {
		err := classify(c.err)
		if err.Error() != c.err.Error() || !errors.Is(err, c.keep) {
			t.Errorf("%s: %q lost %v", c.name, err, c.keep)
		}
		for _, s := range []error{ErrRefused, ErrUnreachable, ErrTimeout} {
			if errors.Is(err, s) != (s == c.kind) {
				t.Errorf("%s: errors.Is(%q, %q) = %v", c.name, err, s, !(s == c.kind))
			}
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

// TestConnectLoopback connects on the loopback interface (no privilege
// needed): an open port, with the MSS the kernel learned; a closed one,
// refused with the errno kept and, on a kernel that queues ICMP errors,
// nothing queued, since it was a RST; and a cancelled context, before
// anything is sent.
func TestConnectLoopback(t *testing.T) {
	open, closed := labtest.LoopbackPorts(t)
	o := Connect(context.Background(), open, time.Second)
	if o.Err != nil || o.Immediate || !o.HasMSS || o.MSS == 0 || o.ICMP != nil || o.RTT <= 0 || o.RTT > time.Second {
		t.Fatalf("open port: %+v", o)
	}
	o = Connect(context.Background(), closed, time.Second)
	if !errors.Is(o.Err, ErrRefused) || !errors.Is(o.Err, syscall.ECONNREFUSED) || errors.Is(o.Err, ErrTimeout) || o.Immediate || o.HasMSS || o.ICMP != nil {
		t.Fatalf("closed port: %+v", o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if o = Connect(ctx, open, time.Second); !errors.Is(o.Err, context.Canceled) || o.RTT != 0 || o.HasMSS {
		t.Fatalf("cancelled: %+v", o)
	}
}
