package probe

import "time"

// holdMax bounds the ICMP-settled results held back at once: past it,
// the oldest is let go early. A firewall that answers every probe of a
// fast scan with an ICMP error costs no more memory than a slow one.
const holdMax = 4096

// held is a result an ICMP error settled, held back for one timeout
// because a SYN-ACK or RST for the same target:port outranks it. k keys
// the transmit time of the probe it answers, kept until the result is
// final.
type held struct {
	r       Result
	k       uint64
	try     int
	expires time.Time
}

// holdQueue keeps ICMP-settled results back until they expire, in the
// order they came (so the order they expire in), at most holdMax at once.
// Receiving goroutine only.
type holdQueue struct {
	m          map[uint64]held // by probe index
	q          []uint64        // a ring of probe indexes
	head, size int
	release    func(held) // a result whose wait is over
}

func newHoldQueue(release func(held)) *holdQueue {
	return &holdQueue{m: map[uint64]held{}, q: make([]uint64, holdMax), release: release}
}

func (h *holdQueue) len() int { return len(h.m) }

// hold keeps p, the result of probe idx, letting the oldest held go first
// when holdMax are held.
func (h *holdQueue) hold(idx uint64, p held) {
	if h.size == len(h.q) {
		h.releaseOldest()
	}
	h.q[(h.head+h.size)%len(h.q)] = idx
	h.size++
	h.m[idx] = p
}

// take removes probe idx's held result, if any: a SYN-ACK or RST
// replaces it.
func (h *holdQueue) take(idx uint64) (held, bool) {
	p, ok := h.m[idx]
	if ok {
		delete(h.m, idx)
	}
	return p, ok
}

// duplicate counts one more ICMP error for probe idx's held result.
func (h *holdQueue) duplicate(idx uint64) {
	if p, ok := h.m[idx]; ok {
		p.r.Duplicates++
		h.m[idx] = p
	}
}

// expire releases the results whose wait is over at now.
func (h *holdQueue) expire(now time.Time) {
	for h.size > 0 {
		if p, ok := h.m[h.q[h.head]]; ok && !now.After(p.expires) {
			return
		}
		h.releaseOldest()
	}
}

// releaseAll releases every held result.
func (h *holdQueue) releaseAll() {
	for h.size > 0 {
		h.releaseOldest()
	}
}

// releaseOldest takes the oldest entry off the ring and releases its
// result unless a SYN-ACK or RST has taken it.
func (h *holdQueue) releaseOldest() {
	idx := h.q[h.head]
	h.head = (h.head + 1) % len(h.q)
	h.size--
	if p, ok := h.take(idx); ok {
		h.release(p)
	}
}
