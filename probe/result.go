// Package probe is synprobe's engine: it walks targets x ports in a keyed
// pseudo-random order, sends hand-built SYNs through a raw connection,
// validates replies statelessly and turns them into Results.
//
// The engine never prints. Results are plain values: nothing in them points
// into a receive buffer, so a consumer may keep them as long as it likes.
package probe

import (
	"net/netip"
	"time"
)

// State is what a probe found out about one target:port.
type State uint8

// The zero State is invalid so that a Result nobody filled in is noticed.
const (
	StateUnknown  State = iota
	StateOpen           // a valid SYN-ACK came back
	StateClosed         // a valid RST came back
	StateFiltered       // an ICMP error, or no reply after every try
)

var stateNames = [...]string{
	StateUnknown:  "unknown",
	StateOpen:     "open",
	StateClosed:   "closed",
	StateFiltered: "filtered",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// ParseState parses the names String returns ("open", "closed", "filtered").
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if i != int(StateUnknown) && n == s {
			return State(i), true
		}
	}
	return StateUnknown, false
}

// Reason says why a Result has its State: one of the constants below,
// ReasonConnect* in connect mode, or the name of an ICMP error such as
// "port-unreachable" or "admin-prohibited".
type Reason string

const (
	ReasonSynAck     Reason = "syn-ack"     // open: a valid SYN-ACK
	ReasonRST        Reason = "rst"         // closed: a valid RST
	ReasonNoResponse Reason = "no-response" // filtered: no valid reply after every try
	// ReasonNoRoute (filtered): the local kernel has no route to the
	// target, so the probe never left.
	ReasonNoRoute Reason = "no-route"
	// ReasonLocalFirewall (filtered): the local firewall (netfilter's
	// OUTPUT chain) refused to send the probe, so it never left.
	ReasonLocalFirewall Reason = "local-firewall"
)

// Clock says where a latency's two instants were taken.
type Clock uint8

const (
	ClockNone   Clock = iota // no latency was measured
	ClockKernel              // kernel transmit and receive timestamps
	ClockUser                // monotonic user-space time: the kernel gave none
)

func (c Clock) String() string {
	switch c {
	case ClockKernel:
		return "kernel"
	case ClockUser:
		return "user"
	}
	return "none"
}

// Has is a set of flags saying which optional Result fields were measured.
// A field whose flag is clear was not measured and must not be reported: an
// absent MSS is absent, never 536, and a TTL of 0 is never shown as a value.
type Has uint16

const (
	HasRTT        Has = 1 << iota // RTT and Clock
	HasTTL                        // TTL, InitialTTL and Hops
	HasIPID                       // IPID and DF
	HasWindow                     // Window
	HasMSS                        // MSS option present in the reply
	HasWScale                     // window scale option present in the reply
	HasTimestamps                 // timestamps option present (TSval, TSecr)
)

// Result is the settled outcome for one target:port.
type Result struct {
	Addr   netip.Addr
	Port   uint16
	State  State
	Reason Reason
	// Tries counts the probes sent for this target:port, retries
	// included, until the result settled; for no-route and
	// local-firewall, the probe the kernel refused counts as one.
	Tries int

	Time time.Time // wall-clock time the result was settled
	// Seq numbers the probes of a ping (1, 2, ...); 0 in a scan.
	Seq int

	Has           Has
	RTT           time.Duration // send to first valid reply
	Clock         Clock
	TTL           uint8 // TTL of the reply as received
	InitialTTL    uint8 // smallest of 32, 64, 128, 255 not below TTL
	Hops          uint8 // InitialTTL - TTL
	IPID          uint16
	DF            bool
	Window        uint16
	MSS           uint16
	WScale        uint8
	SACKPermitted bool // SACK-permitted option present in the reply
	TSval, TSecr  uint32
	// ICMPType and ICMPCode are set when an ICMP error settled the result;
	// ICMPFrom is the router or host that sent it.
	ICMPType, ICMPCode uint8
	ICMPFrom           netip.Addr
	// Duplicates counts valid replies after the first; they never change
	// the result.
	Duplicates int
}

// AddrPort is the result's target as a netip.AddrPort.
func (r Result) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Addr, r.Port) }

// InitialTTL infers the other stack's initial TTL from a received TTL: the
// smallest of the common initial values 32, 64, 128 and 255 not below ttl.
func InitialTTL(ttl uint8) (initial, hops uint8) {
	for _, i := range [...]uint8{32, 64, 128, 255} {
		if ttl <= i {
			return i, i - ttl
		}
	}
	return 255, 255 - ttl // unreachable: ttl <= 255 always
}

// Summary condenses the results of a ping (or of one check's probes).
// Latency figures are over the replies that carried an RTT.
type Summary struct {
	Sent, Received int
	LossPct        float64
	Min, Avg, Max  time.Duration
	StdDev         time.Duration
	P50, P90, P99  time.Duration
}
