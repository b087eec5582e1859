package check

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synprobe/synprobe/probe"
)

func TestParseArg(t *testing.T) {
	open := []probe.State{probe.StateOpen}
	for _, c := range []struct {
		arg  string
		want Check
	}{
		{"db.example:5432=open", Check{Target: "db.example", Port: 5432, States: open}},
		{"web-host:443=open,rtt<50ms", Check{Target: "web-host", Port: 443, States: open, MaxRTT: 50 * time.Millisecond}},
		{"198.19.0.9:23=closed|filtered", Check{Target: "198.19.0.9", Port: 23, States: []probe.State{probe.StateClosed, probe.StateFiltered}}},
		{"a:1=open,rtt.p99.9<1s,probes=10000,success>=0.75", Check{Target: "a", Port: 1, States: open, MaxRTT: time.Second,
			Percentile: 99.9, Probes: 10000, MinSuccess: 0.75, MinSuccessSet: true}},
		{"a:1=open,rtt.p100<1ms", Check{Target: "a", Port: 1, States: open, MaxRTT: time.Millisecond, Percentile: 100}},
		{"a:1=open,success>=0", Check{Target: "a", Port: 1, States: open, MinSuccessSet: true}},
		{"a:1=open,success>=1", Check{Target: "a", Port: 1, States: open, MinSuccess: 1, MinSuccessSet: true}},
		// An IPv6 address in brackets before its port; Target without them.
		{"[2001:2:0:a::a]:80=open", Check{Target: "2001:2:0:a::a", Port: 80, States: open}},
		{"[::1]:443=open,rtt<5ms", Check{Target: "::1", Port: 443, States: open, MaxRTT: 5 * time.Millisecond}},
	} {
		got, err := ParseArg(c.arg)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %+v, %v; want %+v", c.arg, got, err, c.want)
		}
		if back := got.Arg(); back != c.arg {
			t.Errorf("%q: Arg writes %q", c.arg, back)
		}
	}
	// The default name of an IPv6 check has the brackets, whether the
	// check was written on the command line or in a file (no brackets).
	for _, c := range []Check{{Target: "2001:2:0:a::a", Port: 80}, {Target: "[2001:2:0:a::a]", Port: 80}} {
		if n := c.Normalize().Name; n != "[2001:2:0:a::a]:80" {
			t.Errorf("%+v: name %q", c, n)
		}
	}
}

func TestParseArgRejects(t *testing.T) {
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
		// A colon-rich target is an IPv6 address, never HOST:PORT.
		{"2001:2:0:a::a:80=open", "want [IPv6-ADDRESS]:PORT"},
		{"2001:2:0:a::a=open", "want [IPv6-ADDRESS]:PORT"},
		{"[2001:2:0:a::a]=open", "want [IPv6-ADDRESS]:PORT"},
		{"[2001:2:0:a::a:80=open", "want [IPv6-ADDRESS]:PORT"},
		{"[::1]x:80=open", "want [IPv6-ADDRESS]:PORT"},
		{"[web]:80=open", "brackets are for an IPv6 address"},
		{"[::1]:0=open", "port"},
		{"[::1]:http=open", "port"},
	} {
		_, err := ParseArg(c.arg)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `check "`+c.arg+`"`) {
			t.Errorf("%q: %v, want an error naming the check and saying %q", c.arg, err, c.want)
		}
	}
}

// FuzzParseArg: no panics, every accepted check validates, and
// what Arg writes reads back as the same check.
func FuzzParseArg(f *testing.F) {
	for _, s := range []string{
		"db.example:5432=open", "api:443=open,rtt<50ms", "198.19.0.9:23=closed|filtered",
		"a:1=open,rtt.p99.9<1s,probes=5,success>=0.8", "a:1=open,success>=0",
		"a:80=open,success>=NaN", "a:80=open,rtt.p0<5ms", "a:80=open,rtt.p1e-300<1ns", // hostile: NaN, 0, tiny
		"a:=open", "=open", ":::=", "a:80=open,,", "a:80=open,rtt<", "a:80=open,rtt.p<1s",
		"[2001:2:0:a::a]:80=open", "[[::1]:80=open", "[::1]]:80=open", "2001:db8::1:80=open", // IPv6: brackets, and none
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseArg(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "check ") {
				t.Fatalf("%q: error does not name the check: %v", s, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q accepted but invalid: %v", s, err)
		}
		if c.Percentile != 0 && !validPercentile(c.Percentile) || !validRatio(c.MinSuccess) {
			t.Fatalf("%q: out of range: %+v", s, c)
		}
		back, err := ParseArg(c.Arg())
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("%q: Arg %q reads back as %+v, %v; want %+v", s, c.Arg(), back, err, c)
		}
	})
}
