package probe

import (
	"net/netip"
	"time"

	"github.com/synprobe/synprobe/raw"
)

// Conn is what the engine needs of the network: *raw.Conn in real runs, a
// scripted fake in tests.
type Conn interface {
	WriteBatch(pkts []raw.Outgoing) (int, error)
	ReadBatch(msgs []raw.Incoming) (int, error)
	ReadTxTimestamps(stamps []raw.TxStamp) (int, error)
	SetReadDeadline(t time.Time) error
	Route(dst netip.Addr) (raw.Route, error)
	Close() error
}

// Direction says which way a captured packet went.
type Direction uint8

const (
	Sent Direction = iota + 1
	Received
)

// CaptureFunc sees every packet sent and received (for --pcap). pkt is
// only valid during the call.
type CaptureFunc func(dir Direction, pkt []byte, t time.Time)
