//go:build !linux

package lab

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"runtime"
)

// ErrNotSupported: the lab needs Linux network namespaces.
var ErrNotSupported = errors.New("the lab needs Linux network namespaces; not supported on " + runtime.GOOS)

// NamePrefix starts the name of every namespace a lab creates.
const NamePrefix = "synp-"

// Lab is a running lab; on this system none can be built.
type Lab struct {
	ID       string
	Topo     Topology
	WireMode WireMode
}

func Start(context.Context, Topology) (*Lab, error) { return nil, ErrNotSupported }

func Serve(context.Context, Topology) error    { return ErrNotSupported }
func Up(string, ...string) (State, error)      { return State{}, ErrNotSupported }
func Down() ([]string, error)                  { return nil, ErrNotSupported }
func DownLab(string, string) ([]string, error) { return nil, ErrNotSupported }
func ReadState() (State, error)                { return State{}, ErrNotSupported }
func Leftovers() []string                      { return nil }
func LeftBehind(int) (Residue, error)          { return Residue{}, ErrNotSupported }
func Namespaces() []string                     { return nil }
func EnterAndExec(string, []string) error      { return ErrNotSupported }
func LogPath() string                          { return "" }
func (s State) Alive() bool                    { return false }
func (l *Lab) Close() error                    { return nil }
func (l *Lab) Do(string, func() error) error {
	return ErrNotSupported
}
func (l *Lab) Namespace(string) string { return "" }
func (l *Lab) Addr(string) netip.Addr  { return netip.Addr{} }
func (l *Lab) Command(ctx context.Context, _ string, name string, args ...string) *exec.Cmd {
	// Never runs: outside a lab namespace it would be the machine's own.
	c := exec.CommandContext(ctx, name, args...)
	c.Err = ErrNotSupported
	return c
}
func (l *Lab) RxPackets(string) (uint64, error) { return 0, ErrNotSupported }
