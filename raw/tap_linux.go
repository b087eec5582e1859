//go:build linux

package raw

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Transmit stamps from a packet tap. The kernel hands every
// packet it transmits through the queueing layer to its packet taps
// (dev_queue_xmit_nit), stamped at that moment, just before the driver:
// what tcpdump sees. A tap with a TPACKET_V2 receive ring, behind a filter
// that passes only outgoing TCP SYNs from synprobe's port range, gives the
// same kernel time as an error-queue stamp with no system call per packet:
// the kernel writes a copy of the headers and the time into a shared
// frame, and ReadTxTimestamps reads it from memory.
//
// Error-queue stamps cost the sender an skb and a wake-up per packet and
// the receiver a message of recvmmsg with two control messages per
// packet; on the reference machine that was 40% of the send rate, and the
// one receiving goroutine kept up with 2 senders. With the tap it keeps up
// with 4 (figures in the commits adding it).
//
// The packet path's frames reach the tap too, once its socket no longer
// skips the queueing layer (see packetTx.setBypass).
type txTap struct {
	fd int
	// mu keeps close from unmapping the ring under a read: a command's
	// second Ctrl-C closes the Conn while the engine's receiving
	// goroutine may still be reading it.
	mu   sync.Mutex
	ring []byte // nil once closed
	next int    // the frame to look at next
	// dropped sums what PACKET_STATISTICS, which resets at each read,
	// has reported dropped for want of a free frame.
	dropped atomic.Uint64
}

const (
	// tapFrameSize holds a TPACKET_V2 header, the sockaddr_ll the kernel
	// puts after it (80 bytes in all) and the first 64 bytes of a
	// packet: at least its IPv4 header (with up to 12 bytes of options)
	// and the TCP header up to the flags, 48 bytes, or its IPv6 header
	// and the TCP header up to the flags, 54 (craft.SegmentStart,
	// craft.SegmentStartLen6): all the engine reads of a copy. Frames
	// are 16-byte aligned (TPACKET_ALIGNMENT): 144, not 134.
	tapFrameSize = 144
	tapBlockSize = 64 << 10
	// tapPerBlock frames fit a block (455; the last 16 bytes of each
	// block are unused: a frame never crosses a block).
	tapPerBlock = tapBlockSize / tapFrameSize
	// tapBlocks: 4.5 MiB of ring, 32,760 stamps, 75 ms of the fastest
	// scan here (4 senders); the receiver reads them at least every
	// 20 ms. Half as many lost 0.3% of the stamps of such a scan.
	tapBlocks = 72
	tapFrames = tapBlocks * tapPerBlock
	// tapSnap is the most of each packet the filter passes on; the
	// frame takes what fits.
	tapSnap = 128
	// packetOutgoing is PACKET_OUTGOING, the pkt_type of a packet the
	// host itself sends.
	packetOutgoing = 4
)

// tapFilter passes outgoing IPv4 TCP segments with SYN and without ACK whose
// source port is in [lo, hi], and their first tapSnap bytes; and so for
// IPv6, when TCP is the IPv6 header's next header (a SYN behind extension
// headers is not passed). A SOCK_DGRAM packet socket's filter sees the
// packet from the IP header on.
func tapFilter(lo, hi uint16) []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},                                   // 0
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 14}, // 1: to 16
		bpf.LoadExtension{Num: bpf.ExtProto},                                  // 2
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipTrue: 14},   // 3: to 18
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_IP, SkipTrue: 11},
		bpf.LoadAbsolute{Off: 9, Size: 1}, // protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_TCP, SkipTrue: 9},
		bpf.LoadAbsolute{Off: 6, Size: 2}, // flags and fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 7},
		bpf.LoadMemShift{Off: 0},           // X = IHL*4
		bpf.LoadIndirect{Off: 13, Size: 1}, // TCP flags
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x12},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x02, SkipTrue: 3}, // SYN, no ACK
		bpf.LoadIndirect{Off: 0, Size: 2},                          // source port
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(lo), SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpLessOrEqual, Val: uint32(hi), SkipTrue: 1},
		bpf.RetConstant{Val: 0},       // 16
		bpf.RetConstant{Val: tapSnap}, // 17
		// IPv6: next header TCP, SYN without ACK, source port in range.
		bpf.LoadAbsolute{Off: 6, Size: 1}, // 18: next header
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_TCP, SkipTrue: 7},
		bpf.LoadAbsolute{Off: 40 + 13, Size: 1}, // TCP flags
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x12},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x02, SkipTrue: 4},
		bpf.LoadAbsolute{Off: 40, Size: 2}, // source port
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(lo), SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(hi), SkipTrue: 1},
		bpf.RetConstant{Val: tapSnap},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err) // the program is constant: a failure is a bug here
	}
	return prog
}

// openTap opens the tap in the calling thread's network namespace, on
// ifname or, when it is empty, on every interface. The socket is created
// with protocol 0, so it receives nothing until the filter and the ring
// are in place and bind names the protocol.
func openTap(ifname string, lo, hi uint16) (*txTap, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET", err)
	}
	t := &txTap{fd: fd}
	if err := t.setup(ifname, lo, hi); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *txTap) setup(ifname string, lo, hi uint16) error {
	if err := unix.SetsockoptInt(t.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return os.NewSyscallError("setsockopt PACKET_VERSION", err)
	}
	prog := tapFilter(lo, hi)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(t.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	req := unix.TpacketReq{Block_size: tapBlockSize, Block_nr: tapBlocks, Frame_size: tapFrameSize, Frame_nr: tapFrames}
	if err := unix.SetsockoptTpacketReq(t.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return os.NewSyscallError("setsockopt PACKET_RX_RING", err)
	}
	ring, err := unix.Mmap(t.fd, 0, tapBlocks*tapBlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return os.NewSyscallError("mmap packet ring", err)
	}
	t.ring = ring
	// Only a socket of every protocol (ETH_P_ALL) is a tap: the kernel
	// shows outgoing packets to those alone.
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}
	if ifname != "" {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("raw: interface %s: %w", ifname, err)
		}
		sa.Ifindex = ifi.Index
	}
	if err := unix.Bind(t.fd, sa); err != nil {
		return os.NewSyscallError("bind AF_PACKET", err)
	}
	return nil
}

// read moves the stamps waiting in the ring into out, each with the start
// of its packet in out[i].Buf (a stamp whose Buf has no room is dropped),
// and returns how many. It never blocks and makes no system call.
func (t *txTap) read(out []TxStamp) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for n < len(out) && t.ring != nil {
		off0 := t.next/tapPerBlock*tapBlockSize + t.next%tapPerBlock*tapFrameSize
		f := t.ring[off0 : off0+tapFrameSize]
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&f[0]))
		status := &h.Status
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			break
		}
		off, snap := int(h.Net), int(h.Snaplen)
		if st := &out[n]; cap(st.Buf) > 0 && off+snap <= len(f) {
			st.N = copy(st.Buf[:cap(st.Buf)], f[off:off+snap])
			st.ID, st.HasID = 0, false
			st.Time, st.Kernel = time.Unix(int64(h.Sec), int64(h.Nsec)), true
			n++
		}
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		t.next = (t.next + 1) % tapFrames
	}
	return n
}

// lost returns how many stamps the ring has had no room for so far: their
// packets left, without a stamp. It may be called alongside read.
func (t *txTap) lost() uint64 {
	if st, err := unix.GetsockoptTpacketStats(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		t.dropped.Add(uint64(st.Drops))
	}
	return t.dropped.Load()
}

// close unmaps the ring and closes the socket, after any read under way;
// a read after it returns nothing.
func (t *txTap) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ring == nil {
		return nil
	}
	unix.Munmap(t.ring)
	t.ring = nil
	return unix.Close(t.fd)
}
