package results

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// randomResult makes a Result with every field and presence bit drawn at
// random, edge values included.
func randomResult(rng *rand.Rand) probe.Result {
	addrs := []netip.Addr{netip.MustParseAddr("198.19.3.4"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("fe80::1%eth0"), {}, netip.MustParseAddr("0.0.0.0")}
	reasons := []probe.Reason{probe.ReasonSynAck, probe.ReasonRST, probe.ReasonNoResponse, "admin-prohibited", "", `odd"<&>\` + "\x01é"}
	rtts := []time.Duration{0, 1, 499, 500, 1500, 7 * time.Microsecond, 40 * time.Millisecond, -3 * time.Microsecond,
		time.Duration(rng.Int64N(int64(time.Minute))), math.MaxInt64, math.MinInt64}
	times := []time.Time{time.Unix(0, 0), time.Date(2026, 11, 25, 11, 36, 11, 573406418, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), {}}
	return probe.Result{
		Seq: rng.IntN(1 << 20), Addr: addrs[rng.IntN(len(addrs))], Port: uint16(rng.Uint32()),
		State: probe.State(rng.IntN(5)), Reason: reasons[rng.IntN(len(reasons))],
		Has: probe.Has(rng.Uint32()), RTT: rtts[rng.IntN(len(rtts))],
		TTL: uint8(rng.Uint32()), InitialTTL: uint8(rng.Uint32()), Hops: uint8(rng.Uint32()),
		MSS: uint16(rng.Uint32()), Window: uint16(rng.Uint32()), WScale: uint8(rng.Uint32()),
		SACKPermitted: rng.IntN(2) == 0, Tries: rng.IntN(12) - 1, Time: times[rng.IntN(len(times))],
	}
}

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes the
// bytes encoding/json writes for the same Record, for 100,000 random
// results.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for i := range 100000 {
		r := randomResult(rng)
		seq := i%2 == 0
		want, err := json.Marshal(NewRecord(r, seq))
		if err != nil {
			t.Fatal(err)
		}
		b = appendJSON(b[:0], r, seq)
		if !bytes.Equal(b, want) {
			t.Fatalf("result %+v:\n got %s\nwant %s", r, b, want)
		}
	}
}

func TestJSONLWriterAllocatesNothing(t *testing.T) {
	w, _ := New("jsonl", io.Discard, false)
	r := probe.Result{Addr: netip.MustParseAddr("198.19.3.4"), Port: 80, State: probe.StateOpen, Reason: probe.ReasonSynAck,
		Has: probe.HasRTT | probe.HasTTL | probe.HasMSS | probe.HasWindow | probe.HasWScale | probe.HasTimestamps,
		RTT: 35 * time.Microsecond, TTL: 64, InitialTTL: 64, MSS: 1460, Window: 65160, WScale: 10, Tries: 1, Time: time.Now()}
	for _, a := range []string{"198.19.3.4", "2001:2:0:a::a"} {
		r.Addr = netip.MustParseAddr(a)
		w.Write(r)
		if n := testing.AllocsPerRun(1000, func() { w.Write(r) }); n != 0 {
			t.Fatalf("%s: %.1f allocations per line", a, n)
		}
	}
}

func BenchmarkJSONL(b *testing.B) {
	w, _ := New("jsonl", io.Discard, false)
	r := probe.Result{Addr: netip.MustParseAddr("198.19.3.4"), Port: 80, State: probe.StateOpen, Reason: probe.ReasonSynAck,
		Has: probe.HasRTT | probe.HasTTL | probe.HasMSS | probe.HasWindow | probe.HasWScale | probe.HasTimestamps,
		RTT: 35 * time.Microsecond, TTL: 64, InitialTTL: 64, MSS: 1460, Window: 65160, WScale: 10, Tries: 1, Time: time.Now()}
	b.ReportAllocs()
	for range b.N {
		w.Write(r)
	}
}
