package probe

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestTxTable(t *testing.T) {
	tt := newTxTable(1000, time.Second) // the smallest table: 1,024 slots
	if len(tt.slots) != 1024 {
		t.Fatalf("%d slots", len(tt.slots))
	}
	t0 := time.Now()
	tt.put(1, t0, true)
	tt.put(2, t0.Add(time.Microsecond), false)
	for _, c := range []struct {
		key    uint64
		at     time.Time
		kernel bool
	}{{1, t0, true}, {2, t0.Add(time.Microsecond), false}} {
		got, kernel, ok := tt.get(c.key)
		if !ok || !got.Equal(c.at) || kernel != c.kernel {
			t.Errorf("key %d: %v %v %v, want %v %v", c.key, got, kernel, ok, c.at, c.kernel)
		}
	}
	tt.put(1, t0.Add(time.Second), false) // a newer time replaces, not adds
	if got, _, _ := tt.get(1); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("replaced time %v", got)
	}
	tt.del(1)
	if tt.has(1) || !tt.has(2) {
		t.Errorf("after del(1): has(1) %v has(2) %v", tt.has(1), tt.has(2))
	}
	if _, _, ok := tt.get(3); ok {
		t.Error("a key never put has a time")
	}
}

// A full bucket gives up its oldest time, and only that one.
func TestTxTableEvictsOldest(t *testing.T) {
	tt := newTxTable(1000, time.Second)
	// Keys of one bucket, found by the table's own hash.
	want := tt.bucketIndex(12345)
	var keys []uint64
	for k := uint64(0); len(keys) < txWays+1; k++ {
		if tt.bucketIndex(k) == want {
			keys = append(keys, k)
		}
	}
	t0 := time.Now()
	// The oldest goes in second, so eviction cannot be by position.
	for i, k := range keys[:txWays] {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		if i == 1 {
			at = t0.Add(-time.Second)
		}
		tt.put(k, at, true)
	}
	if tt.evicted != 0 {
		t.Fatalf("%d evicted with room left", tt.evicted)
	}
	tt.put(keys[txWays], t0.Add(time.Hour), true)
	if tt.evicted != 1 || tt.has(keys[1]) {
		t.Fatalf("evicted %d, oldest kept %v", tt.evicted, tt.has(keys[1]))
	}
	for i, k := range keys {
		if i != 1 && !tt.has(k) {
			t.Errorf("key %d (way %d) lost", k, i)
		}
	}
}

func TestTxTableSize(t *testing.T) {
	for _, c := range []struct {
		rate    int
		horizon time.Duration
		slots   int
	}{
		{1, time.Second, 1024},
		{10000, 2 * time.Second, 32768},        // 20,000 times: the next power of two above
		{200000, 2 * time.Second, 262144},      // capped: 4 MB
		{50_000_000, 10 * time.Second, 262144}, // capped
	} {
		if got := len(newTxTable(c.rate, c.horizon).slots); got != c.slots {
			t.Errorf("rate %d horizon %v: %d slots, want %d", c.rate, c.horizon, got, c.slots)
		}
	}
}

func TestSentLog(t *testing.T) {
	l := newSentLog(0, 1)
	id1 := l.add(0xaaaa)
	id2 := l.add(0xbbbb)
	if id1 == 0 || id2 != id1+1 {
		t.Fatalf("ids %d %d", id1, id2)
	}
	if k, ok := l.key(id1); !ok || k != 0xaaaa {
		t.Fatalf("key(%d) = %x %v", id1, k, ok)
	}
	if _, ok := l.key(0); ok {
		t.Fatal("ID 0 (a RST's) found a probe")
	}
	// A stamp that lags a whole ring behind finds its slot reused.
	for range sentLogSize {
		l.add(0xcccc)
	}
	if _, ok := l.key(id1); ok {
		t.Fatal("a reused slot answered for an old ID")
	}
	// Sender 0's IDs skip 0 when they wrap.
	l.next = idCountMask - 1
	if a, b := l.add(1), l.add(2); a != idCountMask || b != 1 {
		t.Fatalf("wrap: %d then %d", a, b)
	}
	// Other senders' IDs carry their number in the top bits, wrap
	// within it, and are found in their own log only.
	logs := []*sentLog{l, newSentLog(1, 3), newSentLog(2, 3)}
	l2 := logs[2]
	id := l2.add(0xdddd)
	if id>>idSenderShift != 2 || id&idCountMask != 1 {
		t.Fatalf("sender 2's first ID %#x", id)
	}
	if k, ok := sentKey(logs, id); !ok || k != 0xdddd {
		t.Fatalf("sentKey(%#x) = %x %v", id, k, ok)
	}
	if _, ok := sentKey(logs, id&idCountMask|1<<idSenderShift); ok {
		t.Fatal("sender 1's log answered for an ID it never gave")
	}
	if _, ok := sentKey(logs, 7<<idSenderShift); ok {
		t.Fatal("an ID of a sender that does not exist found a probe")
	}
	l2.next = idCountMask
	if a := l2.add(3); a != 2<<idSenderShift {
		t.Fatalf("sender 2 wrapped to %#x", a)
	}
}

func BenchmarkTxTable(b *testing.B) {
	tt := newTxTable(200000, 2*time.Second)
	t0 := time.Now()
	// As in a scan at 200,000/s: the table holds many probes in flight.
	for i := range 200000 {
		tt.put(uint64(i)*7919+1<<40, t0, true)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := uint64(i) * 7919
		tt.put(k, t0, true)
		tt.get(k)
		tt.del(k)
	}
}

// TestTxTableKeepsWhatFits: 12,288 transmit times waiting at once (the
// ICMP test's scan with the receiver behind) in the largest table lose
// none, for 100 sets of keys from a fixed seed. With 4 ways a bucket
// overflowed at the 33rd set and a latency was lost.
func TestTxTableKeepsWhatFits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	for set := range 100 {
		tt := newTxTable(1_000_000, 10*time.Second)
		for i := range 12288 {
			tt.put(rng.Uint64(), t0.Add(time.Duration(i)), true)
		}
		if tt.evicted != 0 {
			t.Fatalf("set %d: %d of 12,288 transmit times evicted from %d slots", set, tt.evicted, len(tt.slots))
		}
	}
}
