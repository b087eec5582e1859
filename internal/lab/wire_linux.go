//go:build linux

package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// This kernel, like many CI kernels, has no netem qdisc, so a link with
// delay or loss is a "wire": a namespace holding two veth ends, a and b,
// and two goroutines that read every frame arriving on one end with an
// AF_PACKET socket and write it out of the other after the one-way delay,
// or drop it with the loss probability. It works at layer 2, so it takes
// nothing off the TTL and ARP crosses it like any frame. The delay is
// constant per direction, so frames leave in the order they came and a
// FIFO is the whole schedule.

type wire struct {
	stop  atomic.Bool
	fds   [2]int
	wg    sync.WaitGroup
	Stats [2]WireStats // 0: a→b (down), 1: b→a (up)
}

// WireStats counts what one direction of a wire did.
type WireStats struct {
	Forwarded, Dropped, Failed atomic.Uint64
}

type frame struct {
	due time.Time
	n   int
	buf *[]byte
}

const wireMTU = 65536 + 14

var framePool = sync.Pool{New: func() any { b := make([]byte, wireMTU); return &b }}

func startWire(ns, a, b string, k Link) (*wire, error) {
	w := &wire{fds: [2]int{-1, -1}}
	var idx [2]int
	err := InNamespace(ns, func() error {
		for i, name := range []string{a, b} {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			idx[i] = ifi.Index
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				return fmt.Errorf("wire: packet socket: %w", err)
			}
			w.fds[i] = fd
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
				return fmt.Errorf("wire: bind %s: %w", name, err)
			}
			// A receive timeout lets the readers notice Close.
			tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return err
			}
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20)
		}
		return nil
	})
	if err != nil {
		w.closeFDs()
		return nil, err
	}
	w.direction(0, w.fds[0], w.fds[1], idx[1], k.DelayDown, k.LossDown)
	w.direction(1, w.fds[1], w.fds[0], idx[0], k.DelayUp, k.LossUp)
	return w, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// direction forwards frames read on in to out after delay.
func (w *wire) direction(d int, in, out, outIndex int, delay time.Duration, loss float64) {
	q := make(chan frame, 65536)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(d)))
	st := &w.Stats[d]
	w.wg.Add(2)
	go func() { // reader
		defer w.wg.Done()
		defer close(q)
		for !w.stop.Load() {
			bp := framePool.Get().(*[]byte)
			n, from, err := unix.Recvfrom(in, *bp, 0)
			now := time.Now()
			if err != nil {
				framePool.Put(bp)
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			// The socket also sees frames the wire itself sends out of
			// this end; only frames arriving from the peer cross.
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				framePool.Put(bp)
				continue
			}
			if loss > 0 && rng.Float64() < loss {
				st.Dropped.Add(1)
				framePool.Put(bp)
				continue
			}
			select {
			case q <- frame{due: now.Add(delay), n: n, buf: bp}:
			default: // queue full: a real link would drop too
				st.Dropped.Add(1)
				framePool.Put(bp)
			}
		}
	}()
	go func() { // writer
		defer w.wg.Done()
		// The writer sleeps on its own OS thread with clock_nanosleep
		// and 1 µs of timer slack: Go's timers wake through the
		// netpoller, whose millisecond timeouts would add up to a
		// millisecond to every frame.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
		to := &unix.SockaddrLinklayer{Ifindex: outIndex}
		for f := range q {
			for wait := time.Until(f.due); wait > 0; wait = time.Until(f.due) {
				ts := unix.NsecToTimespec(wait.Nanoseconds())
				unix.Nanosleep(&ts, nil)
			}
			if err := unix.Sendto(out, (*f.buf)[:f.n], 0, to); err != nil {
				st.Failed.Add(1)
			} else {
				st.Forwarded.Add(1)
			}
			framePool.Put(f.buf)
		}
	}()
}

func (w *wire) Close() {
	w.stop.Store(true)
	w.wg.Wait()
	w.closeFDs()
}

func (w *wire) closeFDs() {
	for i, fd := range w.fds {
		if fd >= 0 {
			unix.Close(fd)
			w.fds[i] = -1
		}
	}
}
