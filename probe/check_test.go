package probe

import (
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCheckArg(t *testing.T) {
	open := []State{StateOpen}
	for _, c := range []struct {
		arg  string
		want Check
	}{
		{"db.example:5432=open", Check{Target: "db.example", Port: 5432, States: open}},
		{"web-host:443=open,rtt<50ms", Check{Target: "web-host", Port: 443, States: open, MaxRTT: 50 * time.Millisecond}},
		{"198.19.0.9:23=closed|filtered", Check{Target: "198.19.0.9", Port: 23, States: []State{StateClosed, StateFiltered}}},
		{"a:1=open,rtt.p99.9<1s,probes=10000,success>=0.75", Check{Target: "a", Port: 1, States: open, MaxRTT: time.Second,
			Percentile: 99.9, Probes: 10000, MinSuccess: 0.75, MinSuccessSet: true}},
		{"a:1=open,rtt.p100<1ms", Check{Target: "a", Port: 1, States: open, MaxRTT: time.Millisecond, Percentile: 100}},
		{"a:1=open,success>=0", Check{Target: "a", Port: 1, States: open, MinSuccessSet: true}},
		{"a:1=open,success>=1", Check{Target: "a", Port: 1, States: open, MinSuccess: 1, MinSuccessSet: true}},
	} {
		got, err := ParseCheckArg(c.arg)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %+v, %v; want %+v", c.arg, got, err, c.want)
		}
	}
}

func TestParseCheckArgRejects(t *testing.T) {
	for _, c := range []struct{ arg, want string }{
		{"a:80", "want HOST:PORT=STATE"},
		{":80=open", "want HOST:PORT"},
		{"a:0=open", "port"},
		{"a:65536=open", "port"},
		{"a:80=opened", "not open, closed or filtered"},
		{"a:80=open|", "not open, closed or filtered"},
		{"a:80=open,success>=NaN", "[0, 1]"},
		{"a:80=open,success>=nan", "[0, 1]"},
		{"a:80=open,success>=Inf", "[0, 1]"},
		{"a:80=open,success>=1.5", "[0, 1]"},
		{"a:80=open,success>=-0.1", "[0, 1]"},
		{"a:80=open,rtt.pNaN<5ms", "(0, 100]"},
		{"a:80=open,rtt.p0<5ms", "(0, 100]"},
		{"a:80=open,rtt.p-1<5ms", "(0, 100]"},
		{"a:80=open,rtt.p100.1<5ms", "(0, 100]"},
		{"a:80=open,rtt.pInf<5ms", "(0, 100]"},
		{"a:80=open,rtt<0s", "positive duration"},
		{"a:80=open,rtt<fast", "positive duration"},
		{"a:80=open,rtt>5ms", "want rtt<DURATION"},
		{"a:80=open,rtt<5ms,rtt.p90<9ms", "given twice"},
		{"a:80=open,probes=0", "probes=N"},
		{"a:80=open,probes=10001", "probes=N"},
		{"a:80=open,probes=2,probes=3", "given twice"},
		{"a:80=open,colour=red", "unknown condition"},
	} {
		_, err := ParseCheckArg(c.arg)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `check "`+c.arg+`"`) {
			t.Errorf("%q: %v, want an error naming the check and saying %q", c.arg, err, c.want)
		}
	}
}

// TestValidateRejectsNaN: the ranges hold for values built in code (or
// decoded from YAML's .nan), not only for the command-line parser's.
func TestValidateRejectsNaN(t *testing.T) {
	base := Check{Target: "a", Port: 1, States: []State{StateOpen}}
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
	lost := Result{Addr: a, Port: 22, State: StateFiltered, Reason: ReasonNoResponse, Tries: 1}
	open := Result{Addr: a, Port: 22, State: StateOpen, Reason: ReasonSynAck, Tries: 1, Has: HasRTT, RTT: time.Millisecond}
	for _, c := range []struct {
		arg  string
		rs   []Result
		pass bool
	}{
		{"h:22=open", []Result{open, open}, true},
		{"h:22=open", []Result{open, lost}, false},               // default: every probe
		{"h:22=open,success>=0.5", []Result{open, lost}, true},   // half is enough
		{"h:22=open,success>=0.75", []Result{open, lost}, false}, // half is not
		{"h:22=open,success>=0", []Result{lost, lost}, true},     // no minimum at all
		{"h:22=open,success>=0,rtt<1s", []Result{lost}, false},   // but a limit needs a latency
		{"h:22=open,rtt<1ms", []Result{open}, false},             // 1ms is not under 1ms
		{"h:22=open,rtt<2ms", []Result{open}, true},
	} {
		chk, err := ParseCheckArg(c.arg)
		if err != nil {
			t.Fatal(err)
		}
		if cr := Evaluate(chk, c.rs); cr.Pass != c.pass {
			t.Errorf("%q over %d results: pass %v, want %v (%v)", c.arg, len(c.rs), cr.Pass, c.pass, cr.Failures)
		}
	}
}

// FuzzParseCheckArg: no panics, every accepted check validates, and
// what Arg writes reads back as the same check.
func FuzzParseCheckArg(f *testing.F) {
	for _, s := range []string{
		"db.example:5432=open", "api:443=open,rtt<50ms", "198.19.0.9:23=closed|filtered",
		"a:1=open,rtt.p99.9<1s,probes=5,success>=0.8", "a:1=open,success>=0",
		"a:80=open,success>=NaN", "a:80=open,rtt.p0<5ms", "a:80=open,rtt.p1e-300<1ns", // hostile: NaN, 0, tiny
		"a:=open", "=open", ":::=", "a:80=open,,", "a:80=open,rtt<", "a:80=open,rtt.p<1s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheckArg(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "check ") {
				t.Fatalf("%q: error does not name the check: %v", s, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q accepted but invalid: %v", s, err)
		}
		if c.Percentile != 0 && !ValidPercentile(c.Percentile) || !ValidRatio(c.MinSuccess) {
			t.Fatalf("%q: out of range: %+v", s, c)
		}
		back, err := ParseCheckArg(c.Arg())
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("%q: Arg %q reads back as %+v, %v; want %+v", s, c.Arg(), back, err, c)
		}
	})
}
