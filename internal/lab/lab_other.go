//go:build !linux

package lab

import (
	"context"
	"errors"
	"runtime"
)

// ErrNotSupported: the lab needs Linux network namespaces.
var ErrNotSupported = errors.New("the lab needs Linux network namespaces; not supported on " + runtime.GOOS)

type Lab struct{ ID string }

type State struct {
	PID      int
	WireMode string
}

func Start(context.Context, Topology) (*Lab, error) { return nil, ErrNotSupported }
func Serve(context.Context, Topology) error         { return ErrNotSupported }
func Up(string, ...string) (State, error)           { return State{}, ErrNotSupported }
func Down() ([]string, error)                       { return nil, ErrNotSupported }
func ReadState() (State, error)                     { return State{}, ErrNotSupported }
func Leftovers() []string                           { return nil }
func Namespaces() []string                          { return nil }
func EnterAndExec(string, []string) error           { return ErrNotSupported }
func LogPath() string                               { return "" }
func (s State) Alive() bool                         { return false }
func (l *Lab) Close() error                         { return nil }
