//go:build linux

package main

import (
	"strings"
	"testing"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/labtest"
	"github.com/synprobe/synprobe/internal/privileged"
)

// TestEndToEndIPv6: the real command over IPv6 in the dual-stack lab:
// a scan of IPv6 targets and their IPv4 twins in one run, in raw and in
// connect mode, the /112 the big host answers, a ping and checks of
// IPv6 targets, each against what the lab's stacks answer.
func TestEndToEndIPv6(t *testing.T) {
	privileged.Require(t)
	l := labtest.Start(t, lab.Demo())

	for _, mode := range []string{"raw", "connect"} {
		t.Run("scan "+mode, func(t *testing.T) {
			r := inLab(t, l, nil, "scan", "2001:2:0:a::a", "198.18.10.10", "[2001:2:0:d::a]", "-p", "22,23,25,80", "-o", "jsonl", "--mode", mode, "-q")
			rs := jsonLines(t, r.stdout)
			if r.code != 0 || len(rs) != 12 {
				t.Fatalf("exit %d, %d lines; stderr %s", r.code, len(rs), r.stderr)
			}
			for _, w := range []struct {
				ip           string
				port         float64
				state, rsn   string
				ttl, mss     float64 // 0: not checked
				ttlInConnect bool    // connect mode has the TTL of ICMP errors only
			}{
				{"2001:2:0:a::a", 22, "open", "syn-ack", 62, 1440, false},
				{"2001:2:0:a::a", 23, "closed", "rst", 62, 0, false},
				{"198.18.10.10", 22, "open", "syn-ack", 62, 1460, false},
				{"2001:2:0:d::a", 22, "filtered", "admin-prohibited", 62, 0, true},
				{"2001:2:0:d::a", 25, "filtered", "port-unreachable", 62, 0, true},
				{"2001:2:0:d::a", 80, "open", "syn-ack", 62, 1440, false},
			} {
				got := find(rs, w.ip, w.port)
				if got == nil || got["state"] != w.state || got["reason"] != w.rsn {
					t.Errorf("%s port %v: %v, want %s/%s", w.ip, w.port, got, w.state, w.rsn)
					continue
				}
				if (mode == "raw" || w.ttlInConnect) && got["ttl"] != w.ttl {
					t.Errorf("%s port %v: ttl %v, want %v (the hop limit)", w.ip, w.port, got["ttl"], w.ttl)
				}
				if mode == "raw" && w.mss != 0 && got["mss"] != w.mss {
					t.Errorf("%s port %v: mss %v, want %v", w.ip, w.port, got["mss"], w.mss)
				}
			}
		})
	}

	t.Run("the /112", func(t *testing.T) {
		r := inLab(t, l, nil, "scan", lab.BigPrefix6.String(), "-p", "80", "--rate", "20000", "--open", "-o", "jsonl", "-q")
		if n := len(jsonLines(t, r.stdout)); r.code != 0 || n != 65536 {
			t.Fatalf("exit %d, %d open of 65,536; stderr %s", r.code, n, r.stderr)
		}
	})

	t.Run("ping and check", func(t *testing.T) {
		r := inLab(t, l, nil, "ping", "[2001:2:0:a::a]:80", "-c", "3", "-i", "20ms")
		if r.code != 0 || !strings.Contains(r.stdout, "[2001:2:0:a::a]:80 seq=3 open") || !strings.Contains(r.stdout, "3 probes sent, 3 answered") {
			t.Fatalf("ping: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = inLab(t, l, nil, "check", "[2001:2:0:a::a]:80=open", "[2001:2:0:c::a]:22=filtered", "[2001:2:0:d::a]:25=open", "-i", "10ms")
		if r.code != 1 || !strings.Contains(r.stdout, "PASS  [2001:2:0:a::a]:80") || !strings.Contains(r.stdout, "PASS  [2001:2:0:c::a]:22") ||
			!strings.Contains(r.stdout, "FAIL  [2001:2:0:d::a]:25") || !strings.Contains(r.stdout, "3 checks, 2 passed, 1 failed") {
			t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}
