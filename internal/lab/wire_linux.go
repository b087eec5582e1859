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
// and per direction one goroutine on its own OS thread that reads every
// frame arriving on one end with an AF_PACKET socket and writes it out of
// the other after the one-way delay, or drops it with the loss probability. It works at layer 2, so it takes
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
	b   []byte
}

// wireQueue bounds the frames in flight per direction, as a real link's
// buffer would: past it, frames are dropped (and counted).
const wireQueue = 65536

// wireMTU is the largest frame read: offloads are off on the wire's ends,
// so frames are at most the MTU, but a packet socket truncates silently.
const wireMTU = 65536 + 14

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

// direction forwards frames read on in to out after delay, dropping each
// with probability loss. One goroutine on its own OS thread does both
// halves: it sends what is due, then waits in ppoll for the next frame or
// the next due time, whichever comes first. ppoll takes a nanosecond
// timeout and the thread has 1 µs of timer slack, so a frame leaves within
// microseconds of its due time; there is no hand-off between goroutines
// (which cost up to a millisecond per frame through Go's scheduler and
// netpoller timers) and no timer per frame.
func (w *wire) direction(d int, in, out, outIndex int, delay time.Duration, loss float64) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(d)))
	st := &w.Stats[d]
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread() // the thread never changed namespace
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
		to := &unix.SockaddrLinklayer{Ifindex: outIndex}
		scratch := make([]byte, wireMTU)
		var q []frame // FIFO: the delay is constant, so due times only grow
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
		for !w.stop.Load() {
			now := time.Now()
			for len(q) > 0 && !q[0].due.After(now) {
				if err := unix.Sendto(out, q[0].b, 0, to); err != nil {
					st.Failed.Add(1)
				} else {
					st.Forwarded.Add(1)
				}
				q[0] = frame{}
				q = q[1:]
			}
			wait := 100 * time.Millisecond // to notice Close
			if len(q) > 0 {
				wait = min(wait, q[0].due.Sub(now))
			}
			ts := unix.NsecToTimespec(max(wait, 0).Nanoseconds())
			n, err := unix.Ppoll(fds, &ts, nil)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if n == 0 || fds[0].Revents&unix.POLLIN == 0 {
				continue
			}
			for range 256 { // drain what has arrived, a bounded batch
				m, from, err := unix.Recvfrom(in, scratch, unix.MSG_DONTWAIT)
				if err != nil {
					break // EAGAIN: nothing more for now
				}
				// The socket also sees frames sent out of this end
				// (by the other direction); only arrivals cross.
				if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
					continue
				}
				if (loss > 0 && rng.Float64() < loss) || len(q) >= wireQueue {
					st.Dropped.Add(1)
					continue
				}
				q = append(q, frame{due: time.Now().Add(delay), b: append([]byte(nil), scratch[:m]...)})
			}
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
