package probe

import (
	"errors"
	"fmt"
)

// ErrConfig is in every error of a configuration that cannot run: what
// the caller asked for, not what the network or the system did. The
// engine finds such an error before it sends anything; a command line
// reports it as bad usage, not as a failure to probe. Test for it with
// errors.Is.
var ErrConfig = errors.New("configuration cannot run")

// configError is a configuration's error: its message as it is, and
// ErrConfig to errors.Is.
type configError struct{ msg string }

func (e *configError) Error() string        { return e.msg }
func (e *configError) Is(target error) bool { return target == ErrConfig }

func configErrorf(format string, a ...any) error {
	return &configError{msg: fmt.Sprintf(format, a...)}
}

// SourcePortsError is a scan whose source port range has fewer ports
// than a probe has tries. Each try of a probe needs a source port of its
// own: the port a reply comes to says which try it answers. It is an
// ErrConfig.
type SourcePortsError struct {
	Lo, Hi uint16 // the range
	Tries  int    // the tries of each probe: 1 + the retries
}

// Ports is how many source ports the range has.
func (e *SourcePortsError) Ports() int { return int(e.Hi) - int(e.Lo) + 1 }

func (e *SourcePortsError) Error() string {
	return fmt.Sprintf("source ports %d-%d: %d for %d tries, each of which needs a port of its own", e.Lo, e.Hi, e.Ports(), e.Tries)
}

func (e *SourcePortsError) Is(target error) bool { return target == ErrConfig }

// CheckScan is what a Prober opened with open finds wrong in ScanGroups
// with cfg over groups before it sends anything: an error that Is
// ErrConfig, or nil. A caller checks it before it opens the Prober (or
// any output), so that bad usage costs nothing; ScanGroups checks it
// again.
func CheckScan(open OpenConfig, cfg ScanConfig, groups []Group) error {
	cfg.SourcePortLo, cfg.SourcePortHi = portRange(open.SourcePortLo, open.SourcePortHi)
	for _, g := range groups {
		cfg.Targets, cfg.Ports = g.Targets, g.Ports
		if _, err := cfg.withDefaults(); err != nil {
			return err
		}
	}
	return nil
}

// checkSourcePorts: lo..hi must be a range, with a port for each of tries.
func checkSourcePorts(lo, hi uint16, tries int) error {
	if hi < lo {
		return configErrorf("source port range %d-%d is inverted", lo, hi)
	}
	if tries > int(hi)-int(lo)+1 {
		return &SourcePortsError{Lo: lo, Hi: hi, Tries: tries}
	}
	return nil
}
