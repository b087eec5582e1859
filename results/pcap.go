package results

import (
	"bufio"
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// PcapWriter writes packets in the classic libpcap format with nanosecond
// timestamps (magic 0xa1b23c4d) and link type LINKTYPE_RAW (101): every
// packet is an IPv4 or an IPv6 packet from its header on, its version
// nibble telling which, so one file holds both families (LINKTYPE_IPV4,
// 228, which it was, holds IPv4 only). tcpdump -r and Wireshark read it.
// Safe for concurrent use.
type PcapWriter struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	err error
}

const linktypeRaw = 101

// NewPcapWriter writes the file header.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	p := &PcapWriter{bw: bufio.NewWriter(w)}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], linktypeRaw)
	_, err := p.bw.Write(h[:])
	return p, err
}

// WritePacket appends one packet captured at t.
func (p *PcapWriter) WritePacket(t time.Time, pkt []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(t.Nanosecond()))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(pkt)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(pkt)))
	p.bw.Write(h[:])
	_, p.err = p.bw.Write(pkt)
	return p.err
}

// Flush writes what is buffered.
func (p *PcapWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	return p.bw.Flush()
}
