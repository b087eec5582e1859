package probe

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The transmit time of each probe is kept from its transmit stamp until
// its reply, in memory fixed when the scan starts: a scan of 16,777,216
// probes holds no more than one of 65,536, however far the receiver falls
// behind the sender. Two structures do it:
//
//   - sentLog, a ring of the keys of the last probes sent, indexed by the
//     ID each probe's packet carries to the kernel, which tags the
//     packet's transmit stamp with it (raw.Outgoing.ID): a stamp finds its
//     probe without a copy of the packet;
//   - txTable, a set-associative table from a probe's key to its transmit
//     time, where a new time evicts the oldest of its bucket when the
//     bucket is full.
//
// A reply whose transmit time was evicted (8 newer probes in flight in
// its bucket; at 200,000 probes/s and the largest table that takes about
// a second) is reported without a latency; txTable counts them.

// sentLogSize is the number of sends a transmit stamp may lag behind and
// still find its probe: a third of a second at 200,000 probes/s. With n
// senders each keeps 1/n of it (sentLogSize/n of its own sends take as
// long at its share of the rate), so the memory does not grow with n.
const sentLogSize = 1 << 16

// maxSenders is the most sending goroutines a scan runs; an ID's top
// bits (above idSenderShift) say whose sentLog holds it.
const (
	maxSenders    = 8
	idSenderShift = 29
	idCountMask   = 1<<idSenderShift - 1
)

// newSentLog is the sent log of sender k of n.
func newSentLog(k, n int) *sentLog {
	return sizedSentLog(k, sentLogSize>>(bits.Len(uint(n))-1)) // n rounded down to a power of 2
}

// sizedSentLog is sender k's sent log of size (a power of 2) slots.
func sizedSentLog(k, size int) *sentLog {
	return &sentLog{base: uint32(k) << idSenderShift, mask: uint32(size - 1),
		keys: make([]atomic.Uint64, size), ids: make([]atomic.Uint32, size)}
}

// sentKey is the probe sent with id by any sender, whose logs are logs,
// if its slot has not been reused.
func sentKey(logs []*sentLog, id uint32) (uint64, bool) {
	k := int(id >> idSenderShift)
	if k >= len(logs) {
		return 0, false
	}
	return logs[k].key(id)
}

// sentLog maps the IDs of recent sends to their probes' keys. The sending
// goroutine writes it, the receiving one reads it: each slot is a pair of
// atomics, the ID written last (and cleared first), so a reader that sees
// the same ID before and after reading the key has the key of that send.
type sentLog struct {
	base uint32 // the sender's number, in the ID's top bits
	next uint32 // the count of sends, in the ID's low bits; sending goroutine only
	mask uint32 // len(keys)-1: the slot of an ID is its low bits
	keys []atomic.Uint64
	ids  []atomic.Uint32
}

// add records the send of probe key and returns the ID its packet
// carries. IDs start at 1 and skip 0, which marks packets (RSTs) whose
// stamps nobody needs.
func (l *sentLog) add(key uint64) uint32 {
	l.next = (l.next + 1) & idCountMask
	id := l.base | l.next
	if id == 0 {
		l.next, id = 1, 1
	}
	i := id & l.mask
	l.ids[i].Store(0)
	l.keys[i].Store(key)
	l.ids[i].Store(id)
	return id
}

// key returns the probe sent with id, if its slot has not been reused.
func (l *sentLog) key(id uint32) (uint64, bool) {
	if id == 0 {
		return 0, false
	}
	i := id & l.mask
	if l.ids[i].Load() != id {
		return 0, false
	}
	k := l.keys[i].Load()
	return k, l.ids[i].Load() == id
}

// txWays is the associativity of txTable: one bucket is two cache lines.
// With 4 ways, 12,288 transmit times waiting at once in the largest table
// (65,536 buckets) now and then put 5 in one bucket, and a latency was
// lost though the table was nearly empty; with 8 ways (32,768 buckets, the
// same memory) the chance that 9 meet is about one in 100,000.
const txWays = 8

// txTable maps probe keys to transmit times in a fixed number of buckets.
// Receiving goroutine only.
type txTable struct {
	slots   []txSlot
	mask    uint64
	shift   uint
	base    time.Time
	evicted uint64 // transmit times dropped to make room, never read
}

// txSlot is one way of a bucket: a probe's key and its transmit time as
// nanoseconds since the table's base, shifted left once, the low bit set
// when the time is the kernel's. Zero t is an empty slot.
type txSlot struct {
	key uint64
	t   int64
}

// newTxTable sizes a table for rate probes a second whose replies may come
// up to horizon later: room for all of them, between 1,024 and 262,144
// transmit times (16 KB to 4 MB).
func newTxTable(rate int, horizon time.Duration) *txTable {
	want := uint64(float64(rate)*horizon.Seconds()) / txWays
	buckets := uint64(1) << min(max(bits.Len64(want), 7), 15)
	return &txTable{slots: make([]txSlot, buckets*txWays), mask: buckets - 1, shift: uint(64 - bits.Len64(buckets-1)),
		base: time.Now().Add(-time.Hour)}
}

// bucketIndex is key's bucket. Fibonacci hashing: every bit of the key
// reaches the index.
func (tt *txTable) bucketIndex(key uint64) uint64 {
	return (key * 0x9e3779b97f4a7c15) >> tt.shift & tt.mask
}

func (tt *txTable) bucket(key uint64) []txSlot {
	b := tt.bucketIndex(key)
	return tt.slots[b*txWays : b*txWays+txWays]
}

// put records key's transmit time t (kernel says whose clock).
func (tt *txTable) put(key uint64, t time.Time, kernel bool) {
	v := int64(t.Sub(tt.base)) << 1
	if v <= 0 {
		v = 2 // before the base: a clock that jumped back; keep it nonzero
	}
	if kernel {
		v |= 1
	}
	b := tt.bucket(key)
	free, oldest := -1, 0
	for i := range b {
		switch {
		case b[i].t != 0 && b[i].key == key:
			b[i].t = v
			return
		case b[i].t == 0:
			if free < 0 {
				free = i
			}
		case b[oldest].t != 0 && b[i].t < b[oldest].t:
			oldest = i
		}
	}
	if free < 0 {
		tt.evicted++
		free = oldest
	}
	b[free] = txSlot{key, v}
}

// get returns key's transmit time.
func (tt *txTable) get(key uint64) (t time.Time, kernel, ok bool) {
	b := tt.bucket(key)
	for i := range b {
		if b[i].key == key && b[i].t != 0 {
			return tt.base.Add(time.Duration(b[i].t >> 1)), b[i].t&1 != 0, true
		}
	}
	return time.Time{}, false, false
}

// has reports whether key has a transmit time.
func (tt *txTable) has(key uint64) bool {
	_, _, ok := tt.get(key)
	return ok
}

// del forgets key's transmit time.
func (tt *txTable) del(key uint64) {
	b := tt.bucket(key)
	for i := range b {
		if b[i].key == key && b[i].t != 0 {
			b[i] = txSlot{}
			return
		}
	}
}
