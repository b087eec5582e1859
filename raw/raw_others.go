//go:build !linux

package raw

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"
)

// Conn is not available on this system.
type Conn struct{}

// Listen returns ErrNotSupported: raw sockets are Linux-only.
func Listen(*Config) (*Conn, error) {
	return nil, fmt.Errorf("raw sockets on %s: %w", runtime.GOOS, ErrNotSupported)
}

func (*Conn) WriteBatch([]Outgoing) (int, error)      { return 0, ErrNotSupported }
func (*Conn) ReadBatch([]Incoming) (int, error)       { return 0, ErrNotSupported }
func (*Conn) ReadTxTimestamps([]TxStamp) (int, error) { return 0, ErrNotSupported }
func (*Conn) SetReadDeadline(time.Time) error         { return ErrNotSupported }
func (*Conn) Route(netip.Addr) (Route, error)         { return Route{}, ErrNotSupported }
func (*Conn) Stats() TxStats                          { return TxStats{} }
func (*Conn) Close() error                            { return nil }
