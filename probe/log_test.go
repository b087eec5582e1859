package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// TestScanLogsAtDebug: the engine logs what a user debugging a scan needs,
// at debug level and never per packet: the start (targets, probes, rate),
// the source address and where it came from, sends the kernel refused (per
// batch), each retry pass, the cooldown, and the counters at the end.
func TestScanLogsAtDebug(t *testing.T) {
	f := newFake(func(f *fakeConn, p *craft.Packet, at time.Time) {
		if p.TCP.Flags == craft.FlagSYN && p.TCP.DstPort == 80 {
			f.queueReply(synAck(p), at.Add(time.Millisecond))
		}
	})
	noRouteExcept(f, "198.18.10.10")
	f.refuse = func(p *craft.Packet) error {
		switch {
		case p.IP.Dst != mustAddr("198.18.10.10"):
			return fmt.Errorf("raw: send to %v: %w", p.IP.Dst, raw.ErrNoRoute)
		case p.TCP.DstPort == 81 && p.TCP.Flags == craft.FlagSYN:
			return fmt.Errorf("raw: send to %v: %w", p.IP.Dst, raw.ErrFirewall)
		}
		return nil
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf).Level(zerolog.DebugLevel)
	_, prog := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.0.1", "198.18.10.10"), Ports: []uint16{80, 81, 82},
		Retries: 1, Logger: log})

	var lines []map[string]any
	by := map[string][]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["level"] != "debug" {
			t.Errorf("log line at level %v: %s", m["level"], l)
		}
		lines = append(lines, m)
		msg, _ := m["message"].(string)
		by[msg] = append(by[msg], m)
	}
	t.Logf("%d lines:\n%s", len(lines), buf.String())
	if len(lines) > 12 {
		t.Errorf("%d log lines for 6 probes: logging per packet?", len(lines))
	}
	want := func(msg string, fields map[string]any) {
		t.Helper()
		ms := by[msg]
		if len(ms) != 1 {
			t.Errorf("%d %q lines, want 1", len(ms), msg)
			return
		}
		for k, v := range fields {
			if fmt.Sprint(ms[0][k]) != fmt.Sprint(v) {
				t.Errorf("%q: %s = %v, want %v", msg, k, ms[0][k], v)
			}
		}
	}
	want("scan start", map[string]any{"targets": 2, "ports": 3, "probes": 6, "rate": 1000, "tries": 2, "source": "198.18.1.1"})
	want("source address from the route to a target", map[string]any{"source": "198.18.1.1", "route_to": "198.18.10.10"})
	want("retry pass", map[string]any{"pass": 2, "of": 2, "unanswered": 1})
	want("cooldown", map[string]any{"cooldown": 100})
	want("scan done", map[string]any{"sent": prog.Sent.Load(), "replies": 1, "open": 1, "filtered": 5, "no_route": 3,
		"local_firewall": 1, "retransmitted": 1, "resets": 1})
	noRoute, firewall := 0.0, 0.0
	for _, m := range by["sends refused"] {
		n, _ := m["no_route"].(float64)
		fw, _ := m["local_firewall"].(float64)
		noRoute, firewall = noRoute+n, firewall+fw
	}
	if noRoute != 3 || firewall != 1 {
		t.Errorf("sends refused lines count %v no-route, %v local-firewall; want 3 and 1", noRoute, firewall)
	}

	// At the default (zero) logger, and at info level, nothing.
	buf.Reset()
	fakeScan(t, newFake(answerEverySYN), ScanConfig{Targets: targets(t, "198.18.10.10"), Ports: []uint16{80},
		Logger: zerolog.New(&buf).Level(zerolog.InfoLevel)})
	if buf.Len() != 0 {
		t.Errorf("logs at info level: %s", buf.String())
	}
}

// TestPingLogsAtDebug: a ping logs its start and its summary, not each probe.
func TestPingLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	_, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:80"), Count: 5,
		Interval: time.Millisecond, Timeout: 50 * time.Millisecond, Logger: zerolog.New(&buf).Level(zerolog.DebugLevel)},
		newFake(answerEverySYN), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Log(out)
	if n := strings.Count(out, "\n"); n > 3 || !strings.Contains(out, `"message":"ping start"`) ||
		!strings.Contains(out, `"sent":5,"received":5`) || !strings.Contains(out, `"message":"ping done"`) {
		t.Errorf("ping logs (%d lines):\n%s", n, out)
	}
}

// TestNoNeedlessRetryPass: when every probe of a scan or of a shard is
// answered in the first pass, no retry pass runs. What must be answered is
// the probes the first pass sent: for a shard, not the whole scan's; and
// never the positions of the walk, which skips some (14 probes walk a
// group of 16 positions).
func TestNoNeedlessRetryPass(t *testing.T) {
	for _, c := range []struct{ shard, shards int }{{1, 1}, {2, 3}} {
		var buf bytes.Buffer
		f := newFake(answerEverySYN)
		col, _ := fakeScan(t, f, ScanConfig{Targets: targets(t, "198.18.10.0/30", "198.18.10.4/31", "198.18.10.6"), Ports: []uint16{80, 81},
			Shard: c.shard, Shards: c.shards, Retries: 2, Logger: zerolog.New(&buf).Level(zerolog.DebugLevel)})
		if len(col.rs) == 0 || len(f.sent) != 2*len(col.rs) { // a SYN and a RST each
			t.Fatalf("shard %d/%d: %d results, %d packets sent", c.shard, c.shards, len(col.rs), len(f.sent))
		}
		if !strings.Contains(buf.String(), "every probe answered: no retry pass") || strings.Contains(buf.String(), `"retry pass"`) {
			t.Errorf("shard %d/%d: a retry pass with every probe answered:\n%s", c.shard, c.shards, buf.String())
		}
	}
}
