//go:build linux

package lab

import (
	"errors"
	"fmt"
	"net"
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
			// The wildcard address also covers a Prefix routed to lo.
			ln, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
			if err != nil {
				return fmt.Errorf("listen on port %d: %w", p, err)
			}
			s.ls = append(s.ls, ln)
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
