//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// txStats is what `-v --log-format json` says each transmit path sent.
func txStats(t *testing.T, stderr string) (raw, packet float64) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == "packets sent per transmit path" {
			return m["raw"].(float64), m["packet"].(float64)
		}
	}
	t.Fatalf("no transmit path counts in stderr: %s", stderr)
	return 0, 0
}

// The packet path finds what the raw path finds, in the demo lab: every
// state and reason, TTL and MSS, on targets one and two routers away, and
// a /24 of the /16 target; and it really took the packet path.
func TestEndToEndTxPacket(t *testing.T) {
	privileged.Require(t)
	l := labtest.Start(t, lab.Demo())
	args := []string{"scan", "198.18.3.10", "198.18.10.10", "198.18.11.10", "198.18.12.10", "198.18.13.10", "198.18.16.10", "198.19.1.0/24",
		"-p", "22,23,25,80,443,445", "-o", "jsonl", "--mode", "raw", "-v", "--log-format", "json"}
	summary := func(rs []map[string]any) map[string]string {
		out := map[string]string{}
		for _, r := range rs {
			out[fmt.Sprintf("%v:%v", r["ip"], r["port"])] = fmt.Sprintf("%v %v ttl=%v mss=%v", r["state"], r["reason"], r["ttl"], r["mss"])
		}
		return out
	}
	var want map[string]string
	for _, tx := range []string{"raw", "packet"} {
		r := inLab(t, l, nil, append(args, "--tx", tx)...)
		rs := jsonLines(t, r.stdout)
		if r.code != 0 || len(rs) != 6*6+256*6 {
			t.Fatalf("--tx %s: exit %d, %d results; stderr %s", tx, r.code, len(rs), r.stderr)
		}
		raw, packet := txStats(t, r.stderr)
		// The prober's one neighbour, r1, has a static entry: with
		// --tx packet every probe and every RST takes the fast path.
		if (tx == "raw" && (raw == 0 || packet != 0)) || (tx == "packet" && (packet == 0 || raw != 0)) {
			t.Errorf("--tx %s: %v sent raw, %v as frames", tx, raw, packet)
		}
		got := summary(rs)
		for _, k := range []string{"198.18.3.10:22", "198.18.10.10:80", "198.18.10.10:23", "198.18.12.10:22", "198.18.13.10:25", "198.18.16.10:80", "198.19.1.77:80"} {
			t.Logf("--tx %s: %s %s", tx, k, got[k])
		}
		if want == nil {
			want = got
			continue
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: --tx raw found %s, --tx packet %s", k, w, got[k])
			}
		}
	}
	if want["198.18.12.10:22"] != "filtered no-response ttl=<nil> mss=<nil>" || want["198.18.13.10:25"] != "filtered port-unreachable ttl=62 mss=<nil>" ||
		want["198.19.1.77:80"] != "open syn-ack ttl=62 mss=1460" || want["198.18.16.10:80"] != "open syn-ack ttl=62 mss=1200" {
		t.Errorf("the raw path's own results are off: %v", want)
	}

	r := inLab(t, l, nil, "ping", "198.18.10.10:80", "-c", "3", "-i", "20ms", "-o", "jsonl", "--tx", "packet", "-v", "--log-format", "json")
	rs := jsonLines(t, r.stdout)
	if r.code != 0 || len(rs) != 4 || rs[0]["state"] != "open" || rs[2]["state"] != "open" {
		t.Fatalf("ping --tx packet: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if raw, packet := txStats(t, r.stderr); raw != 0 || packet < 3 {
		t.Errorf("ping --tx packet: %v raw, %v frames", raw, packet)
	}
}
