package probe

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/raw"
)

// fakeConn is a scripted network for unit tests. Every packet written is
// decoded and handed to respond, which may queue replies (built with the
// helpers below, not by the engine), each with the kernel receive time it
// will carry. Each sent packet gets a kernel transmit stamp at the time it
// was written, so latencies are exact: a reply queued with at = sent+7ms
// must be reported with an RTT of 7ms. refuse and route stand in for
// raw.Conn's send errors and route lookups.
type fakeConn struct {
	src, src6 netip.Addr // the source of the routes to IPv4 and to IPv6 targets

	mu      sync.Mutex
	respond func(f *fakeConn, p *craft.Packet, at time.Time) // under mu
	refuse  func(p *craft.Packet) error                      // a send error, or nil
	route   func(dst netip.Addr) error                       // a route lookup error, or nil

	sent    []sentPacket // every packet that went out, in order
	refused []sentPacket // every packet a send refused
	lookups int          // route lookups
	stamps  []sentPacket // transmit stamps not read yet
	queue   []sentPacket // replies not read yet
	// copyStamps has stamps carry a copy of their packet, as on kernels
	// before 6.13, instead of the packet's ID.
	copyStamps bool
}

type sentPacket struct {
	b  []byte
	at time.Time
	id uint32
}

func newFake(respond func(f *fakeConn, p *craft.Packet, at time.Time)) *fakeConn {
	return &fakeConn{src: mustAddr("198.18.1.1"), src6: mustAddr("2001:2:0:1::1"), respond: respond}
}

func (f *fakeConn) WriteBatch(pkts []raw.Outgoing) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, o := range pkts {
		var p craft.Packet
		if err := p.Decode(o.Buf); err != nil {
			return i, fmt.Errorf("fake: engine sent a malformed packet: %w", err)
		}
		if f.refuse != nil {
			if err := f.refuse(&p); err != nil {
				f.refused = append(f.refused, sentPacket{append([]byte(nil), o.Buf...), time.Now(), o.ID})
				return i, err
			}
		}
		now := time.Now()
		b := append([]byte(nil), o.Buf...)
		f.sent = append(f.sent, sentPacket{b, now, o.ID})
		f.stamps = append(f.stamps, sentPacket{b, now, o.ID})
		if f.respond != nil {
			f.respond(f, &p, now)
		}
	}
	return len(pkts), nil
}

// foreignStamp queues, after the stamp of the packet just sent (p), a
// stamp at time at carrying a copy of another program's SYN: the same
// 4-tuple with another sequence number, as a packet tap would see it.
func (f *fakeConn) foreignStamp(p *craft.Packet, at time.Time) {
	b := append([]byte(nil), f.sent[len(f.sent)-1].b...)
	ihl := int(b[0]&0xf) * 4
	binary.BigEndian.PutUint32(b[ihl+4:], p.TCP.Seq+1)
	craft.SetTCPChecksum(p.IP.Src, p.IP.Dst, b[ihl:])
	f.stamps = append(f.stamps, sentPacket{b, at, 0})
}

// queueReply makes b readable now, with kernel receive time at.
func (f *fakeConn) queueReply(b []byte, at time.Time) {
	f.queue = append(f.queue, sentPacket{b, at, 0})
}

func (f *fakeConn) ReadBatch(msgs []raw.Incoming) (int, error) {
	f.mu.Lock()
	n := 0
	for n < len(msgs) && len(f.queue) > 0 {
		q := f.queue[0]
		f.queue = f.queue[1:]
		msgs[n].N = copy(msgs[n].Buf, q.b)
		msgs[n].Time, msgs[n].Kernel = q.at, true
		n++
	}
	f.mu.Unlock()
	if n == 0 {
		time.Sleep(time.Millisecond)
		return 0, os.ErrDeadlineExceeded
	}
	return n, nil
}

func (f *fakeConn) ReadTxTimestamps(out []raw.TxStamp) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(out) && len(f.stamps) > 0 {
		s := f.stamps[0]
		f.stamps = f.stamps[1:]
		if f.copyStamps {
			out[n].N, out[n].HasID = copy(out[n].Buf, s.b), false
		} else {
			out[n].N, out[n].ID, out[n].HasID = 0, s.id, true
		}
		out[n].Time, out[n].Kernel = s.at, true
		n++
	}
	return n, nil
}

func (f *fakeConn) SetReadDeadline(time.Time) error { return nil }

func (f *fakeConn) Route(dst netip.Addr) (raw.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.route != nil {
		if err := f.route(dst); err != nil {
			return raw.Route{}, err
		}
	}
	if dst.Is6() {
		return raw.Route{Src: f.src6}, nil
	}
	return raw.Route{Src: f.src}, nil
}

func (f *fakeConn) Close() error { return nil }

// sentTo lists the packets sent to dst:port with the given TCP flags.
func (f *fakeConn) sentTo(dst string, port uint16, flags craft.TCPFlags) []sentPacket {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentPacket
	for _, s := range f.sent {
		var p craft.Packet
		if p.Decode(s.b) == nil && p.IP.Dst == mustAddr(dst) && p.TCP.DstPort == port && p.TCP.Flags == flags {
			out = append(out, s)
		}
	}
	return out
}

// Replies, built from the probe they answer as the target's kernel would.

// tcpReply answers syn with a segment of the given flags; ack is relative
// to the SYN's sequence number (1 acknowledges it). An IPv6 SYN is
// answered over IPv6, with a hop limit of 61.
func tcpReply(syn *craft.Packet, flags craft.TCPFlags, ack uint32) []byte {
	b := make([]byte, 128)
	tcp := craft.TCP{SrcPort: syn.TCP.DstPort, DstPort: syn.TCP.SrcPort, Seq: 777, Ack: syn.TCP.Seq + ack, Flags: flags, Window: 65160}
	if flags&craft.FlagSYN != 0 {
		// mss 1460, sackOK, TS val 1000 ecr 0, nop, wscale 7
		opts := []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 1, 3, 3, 7}
		if err := tcp.SetOptions(opts); err != nil {
			panic(err)
		}
	}
	var n int
	var err error
	if syn.IP.Version == 6 {
		ip := craft.IPv6{HopLimit: 61, FlowLabel: 0x12345, Src: syn.IP.Dst, Dst: syn.IP.Src}
		n, err = craft.BuildTCP6(b, &ip, &tcp)
	} else {
		ip := craft.IPv4{TTL: 62, ID: 4321, Flags: craft.FlagDF, Src: syn.IP.Dst, Dst: syn.IP.Src}
		n, err = craft.BuildTCP(b, &ip, &tcp)
	}
	if err != nil {
		panic(err)
	}
	return b[:n]
}

func synAck(syn *craft.Packet) []byte { return tcpReply(syn, craft.FlagSYN|craft.FlagACK, 1) }
func rst(syn *craft.Packet) []byte    { return tcpReply(syn, craft.FlagRST|craft.FlagACK, 1) }

// icmpUnreach is an ICMP destination unreachable (type 3) with code, from
// router, quoting the probe's IPv4 header and the first 8 bytes of TCP.
func icmpUnreach(syn *craft.Packet, code uint8, router netip.Addr) []byte {
	var q [28]byte
	ih := syn.IP
	ih.OptionsLen = 0
	if _, err := ih.Encode(q[:], int(syn.IP.TotalLen)-20); err != nil {
		panic(err)
	}
	putTCPStart(q[20:], syn)
	body := make([]byte, 8+len(q))
	m, err := craft.EncodeICMPError(body, 3, code, 0, q[:])
	if err != nil {
		panic(err)
	}
	ip := craft.IPv4{TTL: 63, Src: router, Dst: syn.IP.Src, Protocol: craft.ProtocolICMP}
	out := make([]byte, 20+m)
	hl, err := ip.Encode(out, m)
	if err != nil {
		panic(err)
	}
	copy(out[hl:], body[:m])
	return out[:hl+m]
}

// icmp6Error is an ICMPv6 error of type and code from router, quoting the
// probe's IPv6 header and the first 8 bytes of TCP, as a router does.
func icmp6Error(syn *craft.Packet, typ, code uint8, router netip.Addr) []byte {
	var q [craft.IPv6HeaderLen + 8]byte
	ih := syn.IP6
	if _, err := ih.Encode(q[:], syn.TransportLen); err != nil {
		panic(err)
	}
	putTCPStart(q[craft.IPv6HeaderLen:], syn)
	body := make([]byte, craft.ICMPv6HeaderLen+len(q))
	m, err := craft.EncodeICMPv6Error(body, router, syn.IP.Src, typ, code, 0, q[:])
	if err != nil {
		panic(err)
	}
	ip := craft.IPv6{HopLimit: 60, NextHeader: craft.ProtocolICMPv6, Src: router, Dst: syn.IP.Src}
	out := make([]byte, craft.IPv6HeaderLen+m)
	hl, err := ip.Encode(out, m)
	if err != nil {
		panic(err)
	}
	copy(out[hl:], body[:m])
	return out[:hl+m]
}

func putTCPStart(b []byte, syn *craft.Packet) {
	b[0], b[1] = byte(syn.TCP.SrcPort>>8), byte(syn.TCP.SrcPort)
	b[2], b[3] = byte(syn.TCP.DstPort>>8), byte(syn.TCP.DstPort)
	s := syn.TCP.Seq
	b[4], b[5], b[6], b[7] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
}

// fakeScan runs Scan over conn with short timings and collects results.
func fakeScan(t *testing.T, conn Conn, cfg ScanConfig) (*collector, *Progress) {
	t.Helper()
	if cfg.Rate == 0 {
		cfg.Rate = 1000
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	var c collector
	var prog Progress
	if err := Scan(context.Background(), cfg, conn, c.add, &prog); err != nil {
		t.Fatal(err)
	}
	return &c, &prog
}

// only returns the one result for a:port, failing the test otherwise.
func (c *collector) only(t *testing.T, a string, port uint16) Result {
	t.Helper()
	rs := c.get(a, port)
	if len(rs) != 1 {
		t.Fatalf("%s:%d: %d results, want 1: %+v", a, port, len(rs), rs)
	}
	return rs[0]
}
