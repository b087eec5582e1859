package probe

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/synprobe/synprobe/raw"
)

func TestFailureLimit(t *testing.T) {
	firewall := fmt.Errorf("raw: send to 198.18.10.10: %w", raw.ErrFirewall)
	noRoute := fmt.Errorf("raw: send to 192.0.2.1: %w", raw.ErrNoRoute)

	// The zero value stops at the 1000th failure in a row, and says why.
	var f failureLimit
	for i := range DefaultMaxConsecutiveFailures - 1 {
		if err := f.failed(firewall); err != nil {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	err := f.failed(firewall)
	if !errors.Is(err, ErrTooManyFailures) || !strings.Contains(err.Error(), "(1000)") || !strings.Contains(err.Error(), firewall.Error()) {
		t.Fatalf("failure 1000: %v", err)
	}
	// Not one packet refused: the caller must not settle a probe and go on.
	if errors.Is(err, raw.ErrFirewall) {
		t.Fatalf("%v matches %v", err, raw.ErrFirewall)
	}

	// A packet sent ends a run of failures; none sent does not. A
	// destination without a route neither counts nor ends one; nor does
	// no error.
	f = failureLimit{max: 3}
	step := func(what string, n int, err error, stop bool) {
		t.Helper()
		f.sent(n)
		if got := f.failed(err); (got != nil) != stop || got != nil && !errors.Is(got, ErrTooManyFailures) {
			t.Fatalf("%s: %v, want a stop: %v", what, got, stop)
		}
	}
	step("1st", 0, firewall, false)
	step("2nd", 0, firewall, false)
	step("some sent, then a failure", 5, firewall, false)
	step("2nd again", 0, errors.New("sendmmsg: no buffer space available"), false)
	for range 10 {
		step("no route", 0, noRoute, false)
	}
	step("nothing sent, no error", 0, nil, false)
	step("3rd", 0, firewall, true)
	step("4th", 0, firewall, true)
	step("after a send", 1, nil, false)
	step("1st after a send", 0, firewall, false)

	// Shared by senders: the count is over all of them, and exactly one
	// failure is the 1000th.
	f = failureLimit{}
	var stops sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 4 {
		stops.Go(func() {
			for range DefaultMaxConsecutiveFailures / 4 {
				if f.failed(firewall) != nil {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}
		})
	}
	stops.Wait()
	if n != 1 {
		t.Fatalf("%d failures were the last, want 1", n)
	}
}
