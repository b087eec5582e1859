package probe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
)

// cookies makes the values that let synprobe validate replies without
// keeping state per probe: the initial sequence number of a probe is a
// keyed hash (AES-128 under a key drawn for each run) of its 4-tuple, so a
// SYN-ACK that acknowledges anything but ISN+1 was not caused by synprobe,
// and nobody who has not seen the SYN can forge one.
type cookies struct {
	block cipher.Block
}

func newCookies() (*cookies, error) {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return &cookies{block: b}, nil
}

// scratch holds one goroutine's AES blocks: passed through the
// cipher.Block interface, local arrays would escape to the heap on every
// probe.
type scratch struct{ in, out [16]byte }

// isn is the initial sequence number of the probe src:sport > dst:dport.
// An IPv4 4-tuple fits one AES block; an IPv6 one (36 bytes) is hashed
// as CBC-MAC over three blocks: E(E(E(src) ^ dst) ^ ports), whose last
// block carries its own tag (3), so no IPv4 input meets an IPv6 one. The
// messages of one length are a prefix-free set, for which CBC-MAC is a
// pseudo-random function.
func (c *cookies) isn(x *scratch, src, dst netip.Addr, sport, dport uint16) uint32 {
	in, out := &x.in, &x.out
	if !dst.Is4() {
		*in = src.As16()
		c.block.Encrypt(out[:], in[:])
		*in = dst.As16()
		xorInto(in, out)
		c.block.Encrypt(out[:], in[:])
		*in = [16]byte{}
		binary.BigEndian.PutUint16(in[8:], sport)
		binary.BigEndian.PutUint16(in[10:], dport)
		in[15] = 3
		xorInto(in, out)
		c.block.Encrypt(out[:], in[:])
		return binary.BigEndian.Uint32(out[:])
	}
	*in = [16]byte{}
	s, d := src.As4(), dst.As4()
	copy(in[0:4], s[:])
	copy(in[4:8], d[:])
	binary.BigEndian.PutUint16(in[8:], sport)
	binary.BigEndian.PutUint16(in[10:], dport)
	in[15] = 1
	c.block.Encrypt(out[:], in[:])
	return binary.BigEndian.Uint32(out[:])
}

// portBase is where the source ports of the probes of dst:dport start: try
// k uses portBase + k (mod the range), so every try of every target:port
// has its own 4-tuple and the try can be read back from a reply's port.
// An IPv6 dst is hashed as CBC-MAC over two blocks, E(E(dst) ^ port),
// tagged 4.
func (c *cookies) portBase(x *scratch, dst netip.Addr, dport uint16) uint32 {
	in, out := &x.in, &x.out
	if !dst.Is4() {
		*in = dst.As16()
		c.block.Encrypt(out[:], in[:])
		*in = [16]byte{}
		binary.BigEndian.PutUint16(in[10:], dport)
		in[15] = 4
		xorInto(in, out)
		c.block.Encrypt(out[:], in[:])
		return binary.BigEndian.Uint32(out[:])
	}
	*in = [16]byte{}
	d := dst.As4()
	copy(in[4:8], d[:])
	binary.BigEndian.PutUint16(in[10:], dport)
	in[15] = 2
	c.block.Encrypt(out[:], in[:])
	return binary.BigEndian.Uint32(out[:])
}

// xorInto sets in to in ^ out: CBC's chaining.
func xorInto(in, out *[16]byte) {
	for i := range in {
		in[i] ^= out[i]
	}
}
