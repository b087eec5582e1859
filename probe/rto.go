package probe

import "time"

// RTO is the RFC 6298 retransmission-timeout estimator, used here to size
// the wait for each ping's reply from the latencies already measured.
type RTO struct {
	srtt, rttvar time.Duration
	valid        bool
}

// clockGranularity is G in RFC 6298: the floor of the variance term.
const clockGranularity = time.Millisecond

// Update takes one RTT measurement (RFC 6298 section 2.2 and 2.3).
func (e *RTO) Update(r time.Duration) {
	if !e.valid {
		e.srtt, e.rttvar, e.valid = r, r/2, true
		return
	}
	d := e.srtt - r
	if d < 0 {
		d = -d
	}
	e.rttvar = (3*e.rttvar + d) / 4 // beta = 1/4
	e.srtt = (7*e.srtt + r) / 8     // alpha = 1/8
}

// Valid reports whether any measurement was taken.
func (e *RTO) Valid() bool { return e.valid }

// SRTT and RTTVAR are the smoothed RTT and its variation.
func (e *RTO) SRTT() time.Duration   { return e.srtt }
func (e *RTO) RTTVAR() time.Duration { return e.rttvar }

// RTO is SRTT + max(G, 4·RTTVAR).
func (e *RTO) RTO() time.Duration { return e.srtt + max(clockGranularity, 4*e.rttvar) }
