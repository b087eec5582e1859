package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// TargetPorts is one target as given: its addresses, and the one port it
// names (0: the scan's port list).
type TargetPorts struct {
	Ranges []AddrRange
	Port   uint16
}

// Group is targets that share one port list: a scan of its own.
type Group struct {
	Targets *TargetSet
	Ports   []uint16
}

// Probes is the group's target:port pairs.
func (g Group) Probes() uint64 { return g.Targets.Len() * uint64(len(g.Ports)) }

// Plan groups targets by the ports each is probed on: a target that names
// a port on that port only, the others on ports. exclude is left out of
// every group. Groups come in a fixed order (by port list), so that a
// sharded scan's shards walk the same groups.
func Plan(targets []TargetPorts, ports []uint16, exclude []AddrRange) ([]Group, error) {
	type acc struct {
		ports   []uint16
		include []AddrRange
	}
	var accs []*acc
	for _, t := range targets {
		ps := ports
		if t.Port != 0 {
			ps = []uint16{t.Port}
		}
		i := slices.IndexFunc(accs, func(a *acc) bool { return slices.Equal(a.ports, ps) })
		if i < 0 {
			i = len(accs)
			accs = append(accs, &acc{ports: ps})
		}
		accs[i].include = append(accs[i].include, t.Ranges...)
	}
	slices.SortFunc(accs, func(a, b *acc) int { return cmpPortLists(a.ports, b.ports) })
	var groups []Group
	var addrs uint64
	for _, a := range accs {
		ts, err := NewTargetSet(a.include, exclude)
		if err != nil {
			return nil, err
		}
		addrs += ts.Len()
		groups = append(groups, Group{Targets: ts, Ports: a.ports})
	}
	if addrs == 0 {
		return nil, errors.New("nothing to scan: every target is excluded")
	}
	return groups, nil
}

// cmpPortLists orders port lists as their decimal forms sort ("[22 80]"
// before "[443]"), the order scans of several port lists have always
// run in.
func cmpPortLists(a, b []uint16) int {
	sa, sb := fmt.Sprint(a), fmt.Sprint(b)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	return 0
}

// ScanGroups scans each group in turn with cfg (its Targets and Ports
// replaced by the group's), each with its own Progress (progs[i]; nil
// for none), and stops at the first error or once ctx is cancelled. A
// configuration that cannot run one of the groups (CheckScan) is an
// error before the first is scanned, not after.
func (p *Prober) ScanGroups(ctx context.Context, cfg ScanConfig, groups []Group, emit func(Result), progs []*Progress) error {
	if err := CheckScan(p.cfg, cfg, groups); err != nil {
		return err
	}
	for i, g := range groups {
		if ctx.Err() != nil {
			return nil
		}
		cfg.Targets, cfg.Ports = g.Targets, g.Ports
		var prog *Progress
		if i < len(progs) {
			prog = progs[i]
		}
		if err := p.Scan(ctx, cfg, emit, prog); err != nil {
			return err
		}
	}
	return nil
}
