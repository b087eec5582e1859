package raw

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Connect (connect_linux.go, connect_others.go) is the kernel's own TCP
// handshake, for processes without raw sockets: one connect() to one
// destination, and what the kernel can tell of how it went.

// Sentinel errors of a connect; test with errors.Is. The error that
// matches one also keeps the system's own (a syscall.Errno, say).
var (
	// ErrRefused: the connect was refused (ECONNREFUSED), by a RST or an
	// ICMP port-unreachable.
	ErrRefused = errors.New("connection refused")
	// ErrUnreachable: the destination was unreachable (EHOSTUNREACH or
	// ENETUNREACH).
	ErrUnreachable = errors.New("destination unreachable")
	// ErrTimeout: no answer before the deadline, or before the kernel
	// gave up (ETIMEDOUT).
	ErrTimeout = errors.New("connect timed out")
)

// ConnectOutcome is what one connect() found out.
type ConnectOutcome struct {
	// Err is nil when the handshake completed. Otherwise errors.Is
	// matches it with ErrRefused, ErrUnreachable or ErrTimeout where one
	// applies, or with the context's error when the context ended first.
	Err error
	// Immediate: connect() itself failed (no route, say), so nothing was
	// sent.
	Immediate bool
	// RTT is the time from connect() to its outcome, by the user-space
	// clock.
	RTT time.Duration
	// MSS is the connected socket's TCP_MAXSEG, when HasMSS.
	MSS    uint16
	HasMSS bool
	// ICMP is the ICMP error the kernel queued for the connect
	// (IP_RECVERR), if any: see KernelQueuesConnectICMP.
	ICMP *ConnectICMP
}

// ConnectICMP is an ICMP error as the kernel queued it on a connecting
// socket's error queue.
type ConnectICMP struct {
	Type, Code uint8
	From       netip.Addr // the router or host that sent it, when known
	TTL        uint8      // of the ICMP packet, when HasTTL
	HasTTL     bool
	RTT        time.Duration // from connect() to when it was read
}

// connectError is a connect's error, with the sentinel it counts as.
type connectError struct{ kind, err error }

func (e *connectError) Error() string   { return e.err.Error() }
func (e *connectError) Unwrap() []error { return []error{e.kind, e.err} }

// classify wraps a connect's error with the sentinel it counts as, if any.
func classify(err error) error {
	var kind error
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = ErrRefused
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		kind = ErrUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || errors.As(err, &ne) && ne.Timeout():
		kind = ErrTimeout
	default:
		return err
	}
	return &connectError{kind, err}
}
