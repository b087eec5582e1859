package main

import (
	"strings"
	"testing"
)

// A bad --tx is a usage error like any other bad flag: one line, exit 2,
// no socket opened.
func TestTxFlagValidated(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "198.18.10.1", "--tx", "dpdk"},
		{"scan", "198.18.10.1", "--tx", ""},
		{"ping", "198.18.10.1:80", "--tx", "Packet"},
		{"check", "198.18.10.1:80=open", "--tx", "af_packet"},
	} {
		code, _, stderr, opened := runT(t, args...)
		if code != exitUsage || opened || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--tx") || !strings.Contains(stderr, "want raw or packet") {
			t.Errorf("%q: exit %d, opened %v, stderr %q", args, code, opened, stderr)
		}
	}
}
