package probe

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestConfigErrors: a configuration that cannot run is an ErrConfig
// (too few source ports a *SourcePortsError, saying how many of each),
// found by CheckScan before anything is opened, and by the engine before
// anything is sent; a configuration that can run is neither.
func TestConfigErrors(t *testing.T) {
	ts := targets(t, "198.18.10.10")
	group := []Group{{Targets: ts, Ports: []uint16{80}}}
	ok := ScanConfig{Rate: 1000, Retries: 1, Timeout: 20 * time.Millisecond}
	for _, c := range []struct {
		name   string
		open   OpenConfig
		cfg    func(ScanConfig) ScanConfig
		groups []Group
		ports  *SourcePortsError // want this error, or any ErrConfig when nil
	}{
		{"one source port, two tries", OpenConfig{SourcePortLo: 65535, SourcePortHi: 65535}, nil, group,
			&SourcePortsError{Lo: 65535, Hi: 65535, Tries: 2}},
		{"ten ports, eleven tries", OpenConfig{SourcePortLo: 40000, SourcePortHi: 40009},
			func(c ScanConfig) ScanConfig { c.Retries = 10; return c }, group, &SourcePortsError{Lo: 40000, Hi: 40009, Tries: 11}},
		{"inverted source ports", OpenConfig{SourcePortLo: 40009, SourcePortHi: 40000}, nil, group, nil},
		{"no rate", OpenConfig{}, func(c ScanConfig) ScanConfig { c.Rate = 0; return c }, group, nil},
		{"negative retries", OpenConfig{}, func(c ScanConfig) ScanConfig { c.Retries = -1; return c }, group, nil},
		{"shard 3 of 2", OpenConfig{}, func(c ScanConfig) ScanConfig { c.Shard, c.Shards = 3, 2; return c }, group, nil},
		{"no ports in the second group", OpenConfig{}, nil, append(group, Group{Targets: ts}), nil},
	} {
		cfg := ok
		if c.cfg != nil {
			cfg = c.cfg(cfg)
		}
		err := CheckScan(c.open, cfg, c.groups)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: CheckScan: %v, want an ErrConfig", c.name, err)
			continue
		}
		var spe *SourcePortsError
		if c.ports != nil && (!errors.As(err, &spe) || *spe != *c.ports) {
			t.Errorf("%s: %v, want %+v", c.name, err, *c.ports)
		}
		// The engine finds it too, before it sends anything.
		f := newFake(answerEverySYN)
		c.open.Mode, c.open.Listen = ModeRaw, nil
		p := &Prober{cfg: c.open, conn: f}
		p.cfg.SourcePortLo, p.cfg.SourcePortHi = portRange(p.cfg.SourcePortLo, p.cfg.SourcePortHi)
		n := 0
		if err := p.ScanGroups(context.Background(), cfg, c.groups, func(Result) { n++ }, nil); !errors.Is(err, ErrConfig) || len(f.sent) != 0 || n != 0 {
			t.Errorf("%s: ScanGroups: %v, %d packets sent, %d results; want an ErrConfig, nothing sent", c.name, err, len(f.sent), n)
		}
	}
	// One port is enough without retries; one port pings any number of
	// times (each try reuses it).
	if err := CheckScan(OpenConfig{SourcePortLo: 65535, SourcePortHi: 65535}, ScanConfig{Rate: 1000}, group); err != nil {
		t.Errorf("one port, one try: %v", err)
	}
	if err := CheckScan(OpenConfig{}, ok, group); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	f := newFake(answerEverySYN)
	if _, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:80"), Count: 2, Interval: time.Millisecond,
		Timeout: 20 * time.Millisecond, SourcePortLo: 65535, SourcePortHi: 65535}, f, func(Result) {}); err != nil {
		t.Errorf("ping from one port: %v", err)
	}
	if _, err := Ping(context.Background(), PingConfig{Target: netip.MustParseAddrPort("198.18.10.10:80")}, f, func(Result) {}); !errors.Is(err, ErrConfig) {
		t.Errorf("ping of no probes: %v, want an ErrConfig", err)
	}
}
