package probe

import (
	"runtime"
	"testing"
)

// TestShardsPartition checks, for N = 1..8 shards and awkward sizes, that
// the shards are disjoint and their union is every index exactly once.
func TestShardsPartition(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 97, 256, 1000, 65536} {
		for shards := 1; shards <= 8; shards++ {
			seen := make([]uint8, n)
			for k := 0; k < shards; k++ {
				o, err := newOrder(n, 42, k, shards)
				if err != nil {
					t.Fatal(err)
				}
				o.walk(0, func(i uint64) bool {
					if i >= n {
						t.Fatalf("n %d: index %d out of range", n, i)
					}
					seen[i]++
					return true
				})
			}
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n %d, %d shards: index %d visited %d times", n, shards, i, c)
				}
			}
		}
	}
}

func TestOrderIsKeyedAndScattered(t *testing.T) {
	first := func(seed uint64) []uint64 {
		o, _ := newOrder(65536, seed, 0, 1)
		var out []uint64
		o.walk(0, func(i uint64) bool { out = append(out, i); return len(out) < 8 })
		return out
	}
	a, b, a2 := first(1), first(2), first(1)
	same, ascending := true, true
	for i := range a {
		same = same && a[i] == b[i]
		if a[i] != a2[i] {
			t.Fatal("same seed, different order")
		}
		if i > 0 && a[i] != a[i-1]+1 {
			ascending = false
		}
	}
	if same || ascending {
		t.Fatalf("order not keyed or not scattered: %v %v", a, b)
	}
}

func TestOrderResume(t *testing.T) {
	o, _ := newOrder(1000, 7, 0, 1)
	var all, resumed []uint64
	o.walk(0, func(i uint64) bool { all = append(all, i); return true })
	pos := o.walk(0, func(i uint64) bool { resumed = append(resumed, i); return len(resumed) < 300 })
	o.walk(pos, func(i uint64) bool { resumed = append(resumed, i); return true })
	if len(all) != len(resumed) {
		t.Fatalf("%d vs %d", len(all), len(resumed))
	}
	for i := range all {
		if all[i] != resumed[i] {
			t.Fatalf("resume differs at %d", i)
		}
	}
}

// The order itself is constant memory: walking 16,777,216 indices keeps
// only a few words, whatever the size.
func TestOrderConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("walks 2^24 indices")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	o, err := newOrder(1<<24, 3, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	o.walk(0, func(uint64) bool { count++; return true })
	runtime.ReadMemStats(&after)
	if count != 1<<24 {
		t.Fatalf("walked %d", count)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("walking 2^24 indices allocated %d bytes", grew)
	}
}
