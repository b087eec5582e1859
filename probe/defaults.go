package probe

import "time"

// Defaults, defined here once: the engine fills a zero config field with
// them, and the command line's help text shows them.
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
	DefaultSourcePortLo, DefaultSourcePortHi uint16 = 32768, 61000
	// DefaultTTL is the probes' TTL, Linux's.
	DefaultTTL uint8 = 64
	// DefaultMSS is the MSS the probes advertise: Ethernet's.
	DefaultMSS uint16 = 1460
	// DefaultWindow is the probes' window, Linux's for that MSS.
	DefaultWindow uint16 = 64240
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
