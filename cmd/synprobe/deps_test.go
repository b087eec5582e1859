package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTestingInBinary: the command links nothing test-only. testing
// (through internal/privileged or internal/labtest, the test helpers of
// the lab) would put its code and its -test.* flags in the shipped binary.
func TestNoTestingInBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "testing", "github.com/synprobe/synprobe/internal/privileged", "github.com/synprobe/synprobe/internal/labtest":
			t.Errorf("cmd/synprobe depends on %s, which is for tests only", p)
		}
	}
}
