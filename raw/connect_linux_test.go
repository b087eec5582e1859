//go:build linux

package raw

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/synprobe/synprobe/internal/lab"
	"golang.org/x/sys/unix"
)

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"5.8.0", true}, {"5.7.19", false}, {"5.10.0-28-amd64", true}, {"6.1.0", true}, {"4.19.0-26-amd64", false},
		{"6.18.44-fc-v782", true}, {"5.15.153.1-microsoft-standard-WSL2", true}, {"3", false}, {"", false}, {"x.y", false},
	} {
		if got := kernelAtLeast(c.release, 5, 8); got != c.want {
			t.Errorf("%q: %v", c.release, got)
		}
	}
}

// TestICMPError reads the control messages of error-queue messages as the
// kernel lays them out: an ICMP error with its sender and the ICMP
// packet's TTL, in either order; without a TTL, or with one out of range;
// and errors that are not ICMP, which are no ICMP error.
func TestICMPError(t *testing.T) {
	router := netip.MustParseAddr("198.18.2.1")
	recvErr := func(origin, typ, code uint8, from netip.Addr) []byte {
		return cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(uint32(unix.EHOSTUNREACH), origin, typ, code, 0, 0, from))
	}
	ttl := func(v int32) []byte { return cmsg(unix.SOL_IP, unix.IP_TTL, u32(uint32(v))) }
	cat := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	for _, c := range []struct {
		name string
		oob  []byte
		want *ConnectICMP
	}{
		{"admin-prohibited", cat(recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 13, router), ttl(62)), &ConnectICMP{Type: 3, Code: 13, From: router, TTL: 62, HasTTL: true}},
		{"TTL first", cat(ttl(250), recvErr(unix.SO_EE_ORIGIN_ICMP, 11, 0, router)), &ConnectICMP{Type: 11, From: router, TTL: 250, HasTTL: true}},
		{"no TTL", recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 10, router), &ConnectICMP{Type: 3, Code: 10, From: router}},
		{"TTL 0", cat(recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 3, router), ttl(0)), &ConnectICMP{Type: 3, Code: 3, From: router}},
		{"TTL 256", cat(recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 3, router), ttl(256)), &ConnectICMP{Type: 3, Code: 3, From: router}},
		{"TTL cut short", cat(recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 3, router), cmsg(unix.SOL_IP, unix.IP_TTL, []byte{64})), &ConnectICMP{Type: 3, Code: 3, From: router}},
		{"no sender", cat(recvErr(unix.SO_EE_ORIGIN_ICMP, 3, 1, netip.Addr{}), ttl(62)), &ConnectICMP{Type: 3, Code: 1, TTL: 62, HasTTL: true}},
		{"local error", cat(recvErr(unix.SO_EE_ORIGIN_LOCAL, 0, 0, netip.Addr{}), ttl(64)), nil},
		{"a transmit stamp", recvErr(unix.SO_EE_ORIGIN_TIMESTAMPING, 0, 0, netip.Addr{}), nil},
		{"a TTL alone", ttl(62), nil},
		{"structure cut short", cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(0, unix.SO_EE_ORIGIN_ICMP, 3, 3, 0, 0, netip.Addr{})[:12]), nil},
		{"nothing", nil, nil},
	} {
		got := icmpError(c.oob)
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestConnectInLab connects from the lab's prober: to an open port (with
// the MSS), to one the target rejects with an ICMP port-unreachable (the
// error the kernel queued: type, code, sender, and TTL, one router away),
// to a destination without a route (refused by connect() itself, nothing
// sent), to one that answers too late for the timeout, and with a context
// cancelled while the connect waits.
func TestConnectInLab(t *testing.T) {
	l := testLab(t)
	connect := func(dst netip.AddrPort, timeout time.Duration, ctx context.Context) (o ConnectOutcome) {
		t.Helper()
		if err := l.Do(lab.ProberName, func() error { o = Connect(ctx, dst, timeout); return nil }); err != nil {
			t.Fatal(err)
		}
		return o
	}
	bg := context.Background()
	web := netip.AddrPortFrom(l.Addr("web"), 80)
	if o := connect(web, time.Second, bg); o.Err != nil || !o.HasMSS || o.MSS == 0 || o.ICMP != nil || o.Immediate {
		t.Errorf("open port: %+v", o)
	}

	o := connect(netip.AddrPortFrom(l.Addr("reject"), 25), time.Second, bg)
	if !errors.Is(o.Err, ErrRefused) || !errors.Is(o.Err, syscall.ECONNREFUSED) || o.Immediate || o.HasMSS {
		t.Errorf("port-unreachable: %+v", o)
	}
	if KernelQueuesConnectICMP() {
		if i := o.ICMP; i == nil || i.Type != 3 || i.Code != 3 || i.From != l.Addr("reject") || !i.HasTTL || i.TTL != 63 || i.RTT <= 0 || i.RTT > o.RTT {
			t.Errorf("port-unreachable: the queued ICMP error is %+v", o.ICMP)
		}
	}

	o = connect(netip.MustParseAddrPort("192.0.2.1:80"), time.Second, bg)
	if !errors.Is(o.Err, ErrUnreachable) || !errors.Is(o.Err, syscall.ENETUNREACH) || !o.Immediate || o.ICMP != nil {
		t.Errorf("no route: %+v", o)
	}

	// slow is 20 ms away.
	slow := netip.AddrPortFrom(l.Addr("slow"), 80)
	connect(slow, time.Second, bg) // its neighbour entry, first
	o = connect(slow, 5*time.Millisecond, bg)
	if !errors.Is(o.Err, ErrTimeout) || !errors.Is(o.Err, os.ErrDeadlineExceeded) || o.Immediate || o.HasMSS || o.RTT < 5*time.Millisecond {
		t.Errorf("timeout: %+v", o)
	}
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(5*time.Millisecond, cancel)
	o = connect(slow, time.Second, ctx)
	if !errors.Is(o.Err, context.Canceled) || o.HasMSS || o.RTT > 500*time.Millisecond {
		t.Errorf("cancelled while waiting: %+v", o)
	}

	// IPv6 alike: the ICMPv6 error's type and code, its sender and its
	// hop limit; and a destination with no route refused at once.
	web6 := netip.AddrPortFrom(l.Addr6("web"), 80)
	if o := connect(web6, time.Second, bg); o.Err != nil || !o.HasMSS || o.MSS == 0 || o.ICMP != nil || o.Immediate {
		t.Errorf("IPv6 open port: %+v", o)
	}
	o = connect(netip.AddrPortFrom(l.Addr6("reject"), 25), time.Second, bg)
	if !errors.Is(o.Err, ErrRefused) || o.Immediate || o.HasMSS {
		t.Errorf("IPv6 port-unreachable: %+v", o)
	}
	if KernelQueuesConnectICMP() {
		if i := o.ICMP; i == nil || i.Type != 1 || i.Code != 4 || i.From != l.Addr6("reject") || !i.HasTTL || i.TTL != 63 || i.RTT <= 0 {
			t.Errorf("IPv6 port-unreachable: the queued ICMPv6 error is %+v", o.ICMP)
		}
	}
	if o = connect(netip.MustParseAddrPort("[2001:db8::1]:80"), time.Second, bg); !errors.Is(o.Err, ErrUnreachable) || !o.Immediate || o.ICMP != nil {
		t.Errorf("IPv6, no route: %+v", o)
	}
}
