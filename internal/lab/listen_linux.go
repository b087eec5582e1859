//go:build linux

package lab

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
)

// listeners are real kernel sockets listening in a target's namespace;
// they accept and close, so a full handshake gets a real answer and the
// accept queue never fills.
type listeners struct {
	ls []net.Listener
	wg sync.WaitGroup
}

func listen(ns string, ports []uint16) (*listeners, error) {
	s := &listeners{}
	err := InNamespace(ns, func() error {
		for _, p := range ports {
			// The wildcard address also covers a Prefix routed to lo;
			// one socket per family ("tcp6" is IPV6_V6ONLY).
			for _, a := range []string{"tcp4 0.0.0.0", "tcp6 [::]"} {
				f := strings.Fields(a)
				ln, err := net.Listen(f[0], fmt.Sprintf("%s:%d", f[1], p))
				if err != nil {
					return fmt.Errorf("listen on %s port %d: %w", f[0], p, err)
				}
				s.ls = append(s.ls, ln)
			}
		}
		return nil
	})
	for _, ln := range s.ls {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := ln.Accept()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					c.Close()
				}
			}
		}()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *listeners) Close() {
	for _, ln := range s.ls {
		ln.Close()
	}
	s.wg.Wait()
}
