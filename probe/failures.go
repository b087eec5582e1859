package probe

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/synprobe/synprobe/raw"
)

// ErrTooManyFailures: many sends in a row failed; the run stops.
var ErrTooManyFailures = errors.New("too many consecutive send failures")

// failureLimit ends a run after max failed sends in a row, over every
// sender that shares it. After each WriteBatch, a sender calls sent with
// the count it got back, then failed with its error: a packet sent ends a
// run of failures. A destination without a route (raw.ErrNoRoute) is that
// destination's failure: it neither counts nor ends a run. Any other
// failed send counts, a packet the local firewall refused
// (raw.ErrFirewall) as much as an error that is not about one packet. Safe
// for concurrent use.
type failureLimit struct {
	max int64 // zero means DefaultMaxConsecutiveFailures
	n   atomic.Int64
}

// sent records that n packets went out.
func (f *failureLimit) sent(n int) {
	if n > 0 {
		f.n.Store(0)
	}
}

// failed records a send's error, if any, and returns ErrTooManyFailures
// once max sends in a row have failed; else nil. The error it returns
// names the last failure, but errors.Is does not match it: a run stopped
// is not one packet refused.
func (f *failureLimit) failed(err error) error {
	if err == nil || errors.Is(err, raw.ErrNoRoute) {
		return nil
	}
	limit := f.max
	if limit <= 0 {
		limit = DefaultMaxConsecutiveFailures
	}
	if n := f.n.Add(1); n >= limit {
		return fmt.Errorf("%w (%d); last: %v", ErrTooManyFailures, n, err)
	}
	return nil
}
