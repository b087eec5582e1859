package probe

import (
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// Defaults, in one place: the engine fills a zero config field with them,
// and the command line's help text shows them. Those of the packets
// themselves are craft's and raw's, below, named here.
const (
	// DefaultRate is a scan's packets per second.
	DefaultRate = 10000
	// DefaultRetries is a scan's extra tries for unanswered probes.
	DefaultRetries = 1
	// DefaultTimeout is the longest wait for a reply.
	DefaultTimeout = time.Second
	// DefaultMinTimeout is the shortest wait a ping's RTT estimate may
	// set: a loaded machine may be slow to read a reply.
	DefaultMinTimeout = 250 * time.Millisecond
	// DefaultPingInterval is the time between a ping's probes.
	DefaultPingInterval = time.Second
	// DefaultPingCount is how many probes a ping sends.
	DefaultPingCount = 5
	// DefaultSourcePortLo and DefaultSourcePortHi bound the source ports,
	// Linux's own ephemeral range (net.ipv4.ip_local_port_range).
	DefaultSourcePortLo, DefaultSourcePortHi = raw.DefaultPortLo, raw.DefaultPortHi
	// DefaultTTL, DefaultMSS and DefaultWindow are the probes' SYN's:
	// Linux's on Ethernet.
	DefaultTTL    = craft.DefaultTTL
	DefaultMSS    = craft.DefaultMSS
	DefaultWindow = craft.DefaultWindow
	// DefaultSenders is a scan's sending goroutines; MaxSenders the most.
	DefaultSenders = 1
	MaxSenders     = maxSenders
	// DefaultConcurrency is how many connects may be in flight at once in
	// connect mode.
	DefaultConcurrency = 256
	// DefaultMaxConsecutiveFailures stops a run after this many failed
	// sends in a row (a destination without a route does not count).
	DefaultMaxConsecutiveFailures = 1000
)

// portRange returns lo..hi, or the default range when both are zero.
func portRange(lo, hi uint16) (uint16, uint16) {
	if lo == 0 && hi == 0 {
		return DefaultSourcePortLo, DefaultSourcePortHi
	}
	return lo, hi
}

// synDefaults fills the zero TTL, MSS and window of a probe's SYN.
func synDefaults(ttl *uint8, mss, window *uint16) {
	if *ttl == 0 {
		*ttl = DefaultTTL
	}
	if *mss == 0 {
		*mss = DefaultMSS
	}
	if *window == 0 {
		*window = DefaultWindow
	}
}
