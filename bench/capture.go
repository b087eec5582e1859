package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The truth for latency is a capture that tcpdump takes on the prober's
// interface with nanosecond kernel timestamps, decoded by gopacket (not by
// synprobe's craft): the time from each SYN to the SYN-ACK or RST that
// acknowledges it.

type tuple struct {
	src, dst     netip.Addr
	sport, dport uint16
}

// handshake is one SYN the prober sent and, if it came, the first reply
// that acknowledged it.
type handshake struct {
	key      tuple
	seq      uint32
	sent     time.Time
	answered bool
	rtt      time.Duration
}

// readHandshakes decodes a pcap of the prober's interface and returns the
// SYNs that from sent, in order, each paired with its reply. A reply
// answers the earliest unanswered SYN of its 4-tuple and sequence number
// (a tool that reuses both, as nping does, gets them paired in order).
func readHandshakes(r io.Reader, from netip.Addr) ([]handshake, error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if pr.Resolution() != gopacket.TimestampResolutionNanosecond {
		return nil, fmt.Errorf("capture: timestamps are not nanosecond (%v)", pr.Resolution())
	}
	var out []handshake
	type pending struct {
		key tuple
		seq uint32
	}
	waiting := map[pending][]int{}
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("capture: %w", err)
		}
		pkt := gopacket.NewPacket(data, pr.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
		switch {
		case src == from && tcp.SYN && !tcp.ACK:
			k := tuple{src, dst, uint16(tcp.SrcPort), uint16(tcp.DstPort)}
			out = append(out, handshake{key: k, seq: tcp.Seq, sent: ci.Timestamp})
			p := pending{k, tcp.Seq}
			waiting[p] = append(waiting[p], len(out)-1)
		case dst == from && (tcp.SYN && tcp.ACK || tcp.RST && tcp.ACK):
			k := tuple{dst, src, uint16(tcp.DstPort), uint16(tcp.SrcPort)}
			p := pending{k, tcp.Ack - 1}
			q := waiting[p]
			if len(q) == 0 {
				continue // a retransmitted SYN-ACK, or not ours
			}
			h := &out[q[0]]
			h.answered, h.rtt = true, ci.Timestamp.Sub(h.sent)
			waiting[p] = q[1:]
		}
	}
	return out, nil
}

// latencyErrors pairs a tool's k'th probe with the k'th SYN in the capture
// and returns |reported - captured| for every probe both saw answered;
// missing counts the probes the tool reported answered but the capture
// did not (or that the capture does not have at all).
func latencyErrors(reported []probeRTT, truth []handshake) (errs []time.Duration, missing int) {
	for _, p := range reported {
		if p.Seq < 0 || p.Seq >= len(truth) || !truth[p.Seq].answered {
			missing++
			continue
		}
		d := p.RTT - truth[p.Seq].rtt
		errs = append(errs, max(d, -d))
	}
	return errs, missing
}
