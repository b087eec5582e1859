package craft

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refChecksum is RFC 1071 written the slow, obvious way: 16-bit words, end-
// around carry after each addition.
func refChecksum(b []byte, initial uint32) uint16 {
	s := initial
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	buf := make([]byte, 2048)
	for i := 0; i < 5000; i++ {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		off := rng.IntN(16)
		n := rng.IntN(len(buf) - off)
		init := rng.Uint32() & 0xfffff
		if got, want := Checksum(buf[off:off+n], init), refChecksum(buf[off:off+n], init); got != want {
			t.Fatalf("off %d len %d init %#x: got %#04x want %#04x", off, n, init, got, want)
		}
	}
	// All ones: the sum that folds to 0xffff.
	ff := []byte{0xff, 0xff, 0xff, 0xff, 0xff}
	if got, want := Checksum(ff, 0), refChecksum(ff, 0); got != want {
		t.Fatalf("0xff bytes: %#x want %#x", got, want)
	}
}

func TestIncrementalUpdate(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	hdr := make([]byte, 40)
	for i := 0; i < 10000; i++ {
		for j := range hdr {
			hdr[j] = byte(rng.Uint32())
		}
		binary.BigEndian.PutUint16(hdr[10:], 0)
		c := Checksum(hdr, 0)
		binary.BigEndian.PutUint16(hdr[10:], c)
		if rng.IntN(2) == 0 {
			w := 2 * (rng.IntN(4) + 6) // a 16-bit word away from the checksum
			old := binary.BigEndian.Uint16(hdr[w:])
			nw := uint16(rng.Uint32())
			binary.BigEndian.PutUint16(hdr[w:], nw)
			c = Update16(c, old, nw)
		} else {
			w := 4 * (rng.IntN(4) + 3)
			old := binary.BigEndian.Uint32(hdr[w:])
			nw := rng.Uint32()
			binary.BigEndian.PutUint32(hdr[w:], nw)
			c = Update32(c, old, nw)
		}
		binary.BigEndian.PutUint16(hdr[10:], 0)
		if want := Checksum(hdr, 0); c != want {
			t.Fatalf("iteration %d: incremental %#04x, full %#04x", i, c, want)
		}
	}
}

func TestPseudoHeaderAgainstReference(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.255.254")
	seg := []byte{1, 2, 3, 4, 5}
	ph := []byte{198, 18, 0, 1, 198, 19, 255, 254, 0, ProtocolTCP, 0, 5}
	if got, want := TCPChecksum(src, dst, seg), refChecksum(append(ph, seg...), 0); got != want {
		t.Fatalf("got %#x want %#x", got, want)
	}
}

func TestPseudoHeaderIPv6AndMapped(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:ffff::2")
	seg := []byte{9, 8, 7}
	// RFC 8200 section 8.1: source, destination, 32-bit upper-layer length,
	// three zero bytes, next header.
	ph := append(append(src.AsSlice(), dst.AsSlice()...), 0, 0, 0, 3, 0, 0, 0, ProtocolTCP)
	if got, want := TCPChecksum(src, dst, seg), refChecksum(append(ph, seg...), 0); got != want {
		t.Fatalf("IPv6: got %#x want %#x", got, want)
	}
	v4, mapped := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("::ffff:198.18.0.1")
	if PseudoHeaderSum(v4, v4, ProtocolTCP, 20) != PseudoHeaderSum(mapped, mapped, ProtocolTCP, 20) {
		t.Fatal("IPv4-mapped addresses do not sum like IPv4 ones")
	}
	_ = PseudoHeaderSum(netip.Addr{}, v4, ProtocolTCP, 20) // must not panic
}
