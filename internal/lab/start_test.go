//go:build linux

package lab

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/synprobe/synprobe/internal/privileged"
)

// startT is labtest.Start for this package's own tests, which cannot
// import labtest (it imports this package): it skips (or fails, under
// SYNPROBE_REQUIRE_PRIVILEGED=1) without root, and removes the lab when the
// test ends.
func startT(t testing.TB, topo Topology) *Lab {
	t.Helper()
	privileged.Require(t)
	l, err := Start(context.Background(), topo)
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
