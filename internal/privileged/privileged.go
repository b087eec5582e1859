// Package privileged decides what a test that needs root does when it has not
// got it: skip with a hint, or fail when SYNPROBE_REQUIRE_PRIVILEGED=1 says
// that a skip would hide a missing CI step.
package privileged

import (
	"os"
	"testing"
)

// EnvRequire is the environment variable that turns skips into failures.
const EnvRequire = "SYNPROBE_REQUIRE_PRIVILEGED"

// Required reports whether privileged tests must run rather than skip.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Require skips t (or fails it, under SYNPROBE_REQUIRE_PRIVILEGED=1) unless
// the process may create network namespaces and raw sockets.
func Require(t testing.TB) {
	t.Helper()
	if ok, why := have(); !ok {
		Skip(t, why)
	}
}

// Skip skips t with reason, or fails it when privileged tests are required.
// Use it when a privileged operation reports os.ErrPermission.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("privileged test cannot run (%s) but %s=1", reason, EnvRequire)
	}
	t.Skipf("skipping privileged test: %s (run as root: sudo make test)", reason)
}
