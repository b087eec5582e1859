//go:build linux

package main

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestScanSample: --sample N on a silent network (nothing leaves the
// process) probes N distinct addresses of the /64, none excluded, the
// same ones again under the same --seed and others under another; the
// note says what was sampled.
func TestScanSample(t *testing.T) {
	prefix := netip.MustParsePrefix("2001:2:0:ffff::/64")
	excluded := netip.MustParsePrefix("2001:2:0:ffff:8000::/65")
	scan := func(seed string) []string {
		t.Helper()
		code, stdout, stderr := runSilent(t, "scan", prefix.String(), "--sample", "20", "--seed", seed, "--exclude", excluded.String(),
			"-p", "80", "--mode", "raw", "--source-ip", "2001:2::1", "--timeout", "20ms", "--retries", "0", "-o", "jsonl")
		if code != 0 || !strings.Contains(stderr, "sampling 20 addresses of 2001:2:0:ffff::/64 (--seed "+seed+")") {
			t.Fatalf("seed %s: exit %d, stderr %q", seed, code, stderr)
		}
		var ips []string
		for line := range strings.Lines(stdout) {
			var r struct{ IP string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			a := netip.MustParseAddr(r.IP)
			if !prefix.Contains(a) || excluded.Contains(a) {
				t.Errorf("seed %s: %v is outside the prefix or excluded", seed, a)
			}
			ips = append(ips, r.IP)
		}
		slices.Sort(ips)
		if len(ips) != 20 || len(slices.Compact(slices.Clone(ips))) != 20 {
			t.Fatalf("seed %s: %d results, %d distinct addresses: %q", seed, len(ips), len(slices.Compact(slices.Clone(ips))), ips)
		}
		return ips
	}
	a, b, c := scan("7"), scan("7"), scan("8")
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Errorf("seed 7 twice: %q and %q; seed 8: %q", a, b, c)
	}
}
