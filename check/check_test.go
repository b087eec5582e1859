package check

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// TestValidateRejectsNaN: the ranges hold for values built in code (or
// decoded from YAML's .nan), not only for the command-line parser's.
func TestValidateRejectsNaN(t *testing.T) {
	base := Check{Target: "a", Port: 1, States: []probe.State{probe.StateOpen}}
	for name, mod := range map[string]func(*Check){
		"percentile NaN":  func(c *Check) { c.Percentile = math.NaN() },
		"percentile +Inf": func(c *Check) { c.Percentile = math.Inf(1) },
		"percentile 101":  func(c *Check) { c.Percentile = 101 },
		"ratio NaN":       func(c *Check) { c.MinSuccess = math.NaN() },
		"ratio -Inf":      func(c *Check) { c.MinSuccess = math.Inf(-1) },
		"ratio 2":         func(c *Check) { c.MinSuccess = 2 },
		"probes -1":       func(c *Check) { c.Probes = -1 },
		"probes 10001":    func(c *Check) { c.Probes = 10001 },
		"no state":        func(c *Check) { c.States = nil },
		"no port":         func(c *Check) { c.Port = 0 },
	} {
		c := base
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEvaluateSuccessRatio(t *testing.T) {
	a := netip.MustParseAddr("198.18.12.10")
	lost := probe.Result{Addr: a, Port: 22, State: probe.StateFiltered, Reason: probe.ReasonNoResponse, Tries: 1}
	open := probe.Result{Addr: a, Port: 22, State: probe.StateOpen, Reason: probe.ReasonSynAck, Tries: 1, Has: probe.HasRTT, RTT: time.Millisecond}
	for _, c := range []struct {
		arg  string
		rs   []probe.Result
		pass bool
	}{
		{"h:22=open", []probe.Result{open, open}, true},
		{"h:22=open", []probe.Result{open, lost}, false},               // default: every probe
		{"h:22=open,success>=0.5", []probe.Result{open, lost}, true},   // half is enough
		{"h:22=open,success>=0.75", []probe.Result{open, lost}, false}, // half is not
		{"h:22=open,success>=0", []probe.Result{lost, lost}, true},     // no minimum at all
		{"h:22=open,success>=0,rtt<1s", []probe.Result{lost}, false},   // but a limit needs a latency
		{"h:22=open,rtt<1ms", []probe.Result{open}, false},             // 1ms is not under 1ms
		{"h:22=open,rtt<2ms", []probe.Result{open}, true},
	} {
		chk, err := ParseArg(c.arg)
		if err != nil {
			t.Fatal(err)
		}
		if cr := Evaluate(chk, c.rs); cr.Pass != c.pass {
			t.Errorf("%q over %d results: pass %v, want %v (%v)", c.arg, len(c.rs), cr.Pass, c.pass, cr.Failures)
		} else if want := map[bool]Status{true: StatusPass, false: StatusFail}[c.pass]; cr.Status != want || cr.Incomplete() != "" {
			t.Errorf("%q: status %v (%q), want %v", c.arg, cr.Status, cr.Incomplete(), want)
		}
	}
}
