// Package labtest is what tests use the namespace lab with: a lab removed
// when the test ends (Start) and tcpdump as an oracle in a lab node
// (Tcpdump). It imports testing: import it from _test.go files only, never
// from the command, whose binary must not link testing (internal/lab is
// the part the command uses).
//
// internal/lab's own tests cannot import it (an import cycle) and have a
// startT of their own, the same guard.
package labtest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/synprobe/synprobe/internal/lab"
	"github.com/synprobe/synprobe/internal/privileged"
)

// Start builds topo for a test and removes it when the test ends. Without
// root (or outside Linux) it skips the test, or fails it under
// SYNPROBE_REQUIRE_PRIVILEGED=1.
func Start(t testing.TB, topo lab.Topology) *lab.Lab {
	t.Helper()
	privileged.Require(t)
	l, err := lab.Start(context.Background(), topo)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			privileged.Skip(t, err.Error())
		}
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	return l
}
