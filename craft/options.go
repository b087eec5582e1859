package craft

import (
	"encoding/binary"
	"fmt"
)

// TCP option kinds (IANA "TCP Option Kind Numbers").
const (
	OptEOL           = 0
	OptNOP           = 1
	OptMSS           = 2
	OptWScale        = 3
	OptSACKPermitted = 4
	OptSACK          = 5
	OptTimestamps    = 8
)

// MaxWScale is the largest window scale shift RFC 7323 allows.
const MaxWScale = 14

// SACKBlock is one left/right edge pair of a SACK option.
type SACKBlock struct{ Left, Right uint32 }

// UnknownOption is an option of a kind craft does not interpret. Its bytes
// (kind and length included) stay available through TCPOptions.UnknownBytes.
type UnknownOption struct {
	Kind uint8
	Len  uint8 // the option's length byte: kind, length and data
	Off  uint8 // offset of the option's kind byte in the option list
}

// MaxUnknown is how many unknown options TCPOptions keeps: 40 bytes of
// options hold at most 20 two-byte options, so none is ever dropped.
const MaxUnknown = TCPMaxOptions / 2

// TCPOptions is what the options of one TCP header say. Every option has a
// presence flag: an MSS that was not sent is absent, never a default. It
// holds a copy of the option bytes, so it never points into a receive
// buffer; TCPOptions values compare with ==.
type TCPOptions struct {
	HasMSS bool
	MSS    uint16

	HasWScale bool
	WScale    uint8 // the shift in effect: at most 14
	// WScaleSent is the shift as sent; WScaleClamped reports that it was
	// above 14 and WScale holds 14 instead (RFC 7323 section 2.3).
	WScaleSent    uint8
	WScaleClamped bool

	SACKPermitted bool

	HasTimestamps bool
	TSval, TSecr  uint32

	NumSACK int // blocks in SACK (a SACK option holds at most 4)
	SACK    [4]SACKBlock

	NumUnknown int
	Unknown    [MaxUnknown]UnknownOption

	// Kinds lists every option kind in wire order, NOP and EOL included,
	// for fingerprinting the other side's stack (the "layout").
	Kinds    [TCPMaxOptions]uint8
	NumKinds int

	raw    [TCPMaxOptions]byte // the option list as parsed
	rawLen uint8
}

// KindList is the option kinds in wire order.
func (o *TCPOptions) KindList() []uint8 { return o.Kinds[:min(max(o.NumKinds, 0), len(o.Kinds))] }

// Bytes is the option list as parsed (a copy held in o).
func (o *TCPOptions) Bytes() []byte { return o.raw[:o.rawLen] }

// UnknownBytes returns the i-th unknown option as on the wire: kind, length
// and data. The slice points into o, not into the parsed buffer.
func (o *TCPOptions) UnknownBytes(i int) []byte {
	if i < 0 || i >= o.NumUnknown || i >= len(o.Unknown) {
		return nil
	}
	u := o.Unknown[i]
	if u.Len < 2 || int(u.Off)+int(u.Len) > int(o.rawLen) {
		return nil // not from Parse
	}
	return o.raw[u.Off : int(u.Off)+int(u.Len)]
}

// Parse walks opts (the option bytes of one header), filling o. It stops at
// the first malformed option and returns an error saying which; what was
// parsed until then stays in o. ErrWScaleClamped is advisory.
func (o *TCPOptions) Parse(opts []byte) error {
	*o = TCPOptions{}
	if len(opts) > TCPMaxOptions {
		return fmt.Errorf("TCP options: %d bytes: %w", len(opts), ErrOptionsTooLong)
	}
	o.rawLen = uint8(copy(o.raw[:], opts))
	for i := 0; i < len(opts); {
		kind := opts[i]
		o.Kinds[o.NumKinds] = kind
		o.NumKinds++
		switch kind {
		case OptEOL:
			return o.clampErr()
		case OptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return fmt.Errorf("TCP option kind %d at %d: no length byte: %w", kind, i, ErrOptionOverrun)
		}
		l := int(opts[i+1])
		if l < 2 {
			return fmt.Errorf("TCP option kind %d at %d: length %d: %w", kind, i, l, ErrOptionLength)
		}
		if i+l > len(opts) {
			return fmt.Errorf("TCP option kind %d at %d: length %d, %d bytes left: %w", kind, i, l, len(opts)-i, ErrOptionOverrun)
		}
		data := opts[i+2 : i+l]
		want := 0
		switch kind {
		case OptMSS:
			want = 4
		case OptWScale:
			want = 3
		case OptSACKPermitted:
			want = 2
		case OptTimestamps:
			want = 10
		case OptSACK:
			if (l-2)%8 != 0 || l < 10 {
				return fmt.Errorf("TCP SACK option at %d: length %d: %w", i, l, ErrOptionBadLength)
			}
			want = l
		}
		if want != 0 && l != want {
			return fmt.Errorf("TCP option kind %d at %d: length %d, want %d: %w", kind, i, l, want, ErrOptionBadLength)
		}
		switch kind {
		case OptMSS:
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(data)
		case OptWScale:
			o.HasWScale, o.WScaleSent, o.WScale = true, data[0], min(data[0], MaxWScale)
			o.WScaleClamped = data[0] > MaxWScale
		case OptSACKPermitted:
			o.SACKPermitted = true
		case OptTimestamps:
			o.HasTimestamps = true
			o.TSval, o.TSecr = binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])
		case OptSACK:
			// A later SACK option replaces an earlier one, stale blocks too.
			o.NumSACK, o.SACK = 0, [4]SACKBlock{}
			for j := 0; j+8 <= len(data); j += 8 {
				o.SACK[o.NumSACK] = SACKBlock{binary.BigEndian.Uint32(data[j:]), binary.BigEndian.Uint32(data[j+4:])}
				o.NumSACK++
			}
		default:
			o.Unknown[o.NumUnknown] = UnknownOption{Kind: kind, Len: uint8(l), Off: uint8(i)}
			o.NumUnknown++
		}
		i += l
	}
	return o.clampErr()
}

// clampErr is the advisory error of a parse that succeeded.
func (o *TCPOptions) clampErr() error {
	if o.WScaleClamped {
		return ErrWScaleClamped
	}
	return nil
}

// Encode writes the option list o describes into b, in the wire order that
// Kinds records (so a parsed list re-encodes to the same bytes, unknown
// options included), and returns its length, unpadded. A kind that appears
// twice is written twice with the one value o holds; a window scale is
// written as sent (WScaleSent). To build options from scratch, use the Put
// writers or PutLayout instead.
func (o *TCPOptions) Encode(b []byte) (int, error) {
	n, unknown := 0, 0
	var err error
	for _, kind := range o.KindList() {
		switch kind {
		case OptEOL:
			if n >= len(b) {
				return n, ErrOptionsTooLong
			}
			b[n] = OptEOL
			n++
		case OptNOP:
			n, err = PutNOP(b, n)
		case OptMSS:
			n, err = PutMSS(b, n, o.MSS)
		case OptWScale:
			n, err = PutWScale(b, n, o.WScaleSent)
		case OptSACKPermitted:
			n, err = PutSACKPermitted(b, n)
		case OptTimestamps:
			n, err = PutTimestamps(b, n, o.TSval, o.TSecr)
		case OptSACK:
			if o.NumSACK < 1 || o.NumSACK > len(o.SACK) {
				return n, fmt.Errorf("TCP options: %d SACK blocks: %w", o.NumSACK, ErrOptionBadLength)
			}
			n, err = PutSACK(b, n, o.SACK[:o.NumSACK])
		default:
			u := o.UnknownBytes(unknown)
			unknown++
			if u == nil || u[0] != kind {
				return n, fmt.Errorf("TCP options: no bytes kept for kind %d: %w", kind, ErrOptionBadLength)
			}
			if n+len(u) > len(b) {
				return n, ErrOptionsTooLong
			}
			n += copy(b[n:], u)
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Option writers append one option to b at offset n and return the new
// offset, or an error when b is too short. They write exactly the wire
// format, so callers compose layouts in any order.

// PutMSS writes an MSS option (kind 2, length 4).
func PutMSS(b []byte, n int, mss uint16) (int, error) {
	if n+4 > len(b) {
		return n, ErrOptionsTooLong
	}
	b[n], b[n+1] = OptMSS, 4
	binary.BigEndian.PutUint16(b[n+2:], mss)
	return n + 4, nil
}

// PutWScale writes a window scale option (kind 3, length 3).
func PutWScale(b []byte, n int, shift uint8) (int, error) {
	if n+3 > len(b) {
		return n, ErrOptionsTooLong
	}
	b[n], b[n+1], b[n+2] = OptWScale, 3, shift
	return n + 3, nil
}

// PutSACKPermitted writes a SACK-permitted option (kind 4, length 2).
func PutSACKPermitted(b []byte, n int) (int, error) {
	if n+2 > len(b) {
		return n, ErrOptionsTooLong
	}
	b[n], b[n+1] = OptSACKPermitted, 2
	return n + 2, nil
}

// PutTimestamps writes a timestamps option (kind 8, length 10).
func PutTimestamps(b []byte, n int, tsval, tsecr uint32) (int, error) {
	if n+10 > len(b) {
		return n, ErrOptionsTooLong
	}
	b[n], b[n+1] = OptTimestamps, 10
	binary.BigEndian.PutUint32(b[n+2:], tsval)
	binary.BigEndian.PutUint32(b[n+6:], tsecr)
	return n + 10, nil
}

// PutSACK writes a SACK option with the given blocks (at most 4).
func PutSACK(b []byte, n int, blocks []SACKBlock) (int, error) {
	l := 2 + 8*len(blocks)
	if len(blocks) == 0 || len(blocks) > 4 || n+l > len(b) {
		return n, ErrOptionsTooLong
	}
	b[n], b[n+1] = OptSACK, uint8(l)
	for i, s := range blocks {
		binary.BigEndian.PutUint32(b[n+2+8*i:], s.Left)
		binary.BigEndian.PutUint32(b[n+6+8*i:], s.Right)
	}
	return n + l, nil
}

// PutNOP writes one no-operation byte.
func PutNOP(b []byte, n int) (int, error) {
	if n+1 > len(b) {
		return n, ErrOptionsTooLong
	}
	b[n] = OptNOP
	return n + 1, nil
}

// PadOptions pads b[:n] with NOPs to a multiple of 4, as stacks that keep
// later options aligned do, and returns the padded length.
func PadOptions(b []byte, n int) (int, error) {
	for n%4 != 0 {
		var err error
		if n, err = PutNOP(b, n); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Layout names the order of options in a SYN, copied from a real stack so
// that probes look like ordinary connection attempts: firewalls with SYN
// cookies drop option-less SYNs.
type Layout uint8

// The zero Layout is invalid; SYNConfig treats it as LayoutLinux.
const (
	LayoutLinux   Layout = iota + 1 // MSS, SACK-permitted, timestamps, NOP, window scale
	LayoutWindows                   // MSS, NOP, window scale, NOP, NOP, SACK-permitted
	LayoutNone                      // no options at all
)

var layoutNames = map[string]Layout{"linux": LayoutLinux, "windows": LayoutWindows, "none": LayoutNone}

func (l Layout) String() string {
	switch l {
	case LayoutLinux:
		return "linux"
	case LayoutWindows:
		return "windows"
	case LayoutNone:
		return "none"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// ParseLayout turns "linux", "windows" or "none" into a Layout.
func ParseLayout(s string) (Layout, error) {
	if l, ok := layoutNames[s]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("%q (want linux, windows or none): %w", s, ErrLayout)
}

// PutLayout writes the SYN options of layout l into b and returns their
// length (always a multiple of 4).
func PutLayout(b []byte, l Layout, mss uint16, wscale uint8, tsval uint32) (int, error) {
	n := 0
	var err error
	step := func(f func() (int, error)) {
		if err == nil {
			n, err = f()
		}
	}
	switch l {
	case LayoutLinux:
		step(func() (int, error) { return PutMSS(b, n, mss) })
		step(func() (int, error) { return PutSACKPermitted(b, n) })
		step(func() (int, error) { return PutTimestamps(b, n, tsval, 0) })
		step(func() (int, error) { return PutNOP(b, n) })
		step(func() (int, error) { return PutWScale(b, n, wscale) })
	case LayoutWindows:
		step(func() (int, error) { return PutMSS(b, n, mss) })
		step(func() (int, error) { return PutNOP(b, n) })
		step(func() (int, error) { return PutWScale(b, n, wscale) })
		step(func() (int, error) { return PutNOP(b, n) })
		step(func() (int, error) { return PutNOP(b, n) })
		step(func() (int, error) { return PutSACKPermitted(b, n) })
	case LayoutNone:
	default:
		return 0, fmt.Errorf("%v: %w", l, ErrLayout)
	}
	return n, err
}
