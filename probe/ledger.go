package probe

import (
	"math/bits"
	"sync/atomic"
)

// ledger is one bit per probe of a scan: set once the probe has its
// result (answered, refused, or settled by an ICMP error). Senders read it
// to skip settled probes on a retry pass, the receiver sets it; it is
// shared without locks.
type ledger struct{ bits []atomic.Uint64 }

func newLedger(n uint64) *ledger { return &ledger{bits: make([]atomic.Uint64, (n+63)/64)} }

func (l *ledger) settled(idx uint64) bool {
	return l.bits[idx/64].Load()&(1<<(idx%64)) != 0
}

// settle sets idx's bit and reports whether it was clear.
func (l *ledger) settle(idx uint64) bool {
	bit := uint64(1) << (idx % 64)
	return l.bits[idx/64].Or(bit)&bit == 0
}

// count is the number of probes settled so far (it reads every word).
func (l *ledger) count() uint64 {
	var n int
	for i := range l.bits {
		n += bits.OnesCount64(l.bits[i].Load())
	}
	return uint64(n)
}
