//go:build linux

package lab

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
)

// Where the kernel has netem, a wire namespace is a kernel bridge between
// its two ends with a netem qdisc on each: b's egress carries the down
// direction (towards the node), a's the up direction. Where it has not (the
// CI kernel), the user-space wire does the same job. SYNPROBE_LAB_WIRE=user
// forces the user-space wire on any kernel.

// netemWire tries the kernel path inside the wire namespace; it returns
// false (and changes nothing) when the kernel lacks netem.
func netemWire(wireNS string, k Link) (ok bool, err error) {
	if os.Getenv("SYNPROBE_LAB_WIRE") == "user" {
		return false, nil
	}
	err = InNamespace(wireNS, func() error {
		a, err := netlink.LinkByName("a")
		if err != nil {
			return err
		}
		b, err := netlink.LinkByName("b")
		if err != nil {
			return err
		}
		if err := addNetem(b, k.DelayDown.Microseconds(), k.LossDown); err != nil {
			return errNoNetem{err}
		}
		if err := addNetem(a, k.DelayUp.Microseconds(), k.LossUp); err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "wire"}}
		if err := netlink.LinkAdd(br); err != nil {
			return err
		}
		for _, l := range []netlink.Link{a, b} {
			if err := netlink.LinkSetMaster(l, br); err != nil {
				return err
			}
		}
		return netlink.LinkSetUp(br)
	})
	if _, no := err.(errNoNetem); no {
		return false, nil
	}
	return err == nil, err
}

type errNoNetem struct{ error }

func addNetem(l netlink.Link, delayUS int64, loss float64) error {
	q := netlink.NewNetem(netlink.QdiscAttrs{
		LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT,
	}, netlink.NetemQdiscAttrs{Latency: uint32(delayUS), Loss: float32(loss * 100), Limit: 100000})
	if err := netlink.QdiscAdd(q); err != nil {
		return fmt.Errorf("netem on %s: %w", l.Attrs().Name, err)
	}
	return nil
}
