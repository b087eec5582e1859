package main

import (
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/synprobe/synprobe/probe"
)

// logConfig logs, at debug level (-v), the command and every flag's
// value, the defaults included: what this run is configured to do.
func (g *globals) logConfig(cmd *cobra.Command) {
	if !g.log.Debug().Enabled() {
		return
	}
	ev := g.log.Debug().Str("command", cmd.CommandPath()).Strs("args", cmd.Flags().Args())
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		ev = ev.Str(f.Name, f.Value.String())
	})
	ev.Msg("config")
}

// logSession logs, at debug level, the mode chosen and the source
// address the first target is probed from.
func (g *globals) logSession(s *session, first netip.Addr) {
	if s.pr.Mode() == probe.ModeConnect {
		g.log.Debug().Str("mode", "connect").Msg("probing with the kernel's connect(): the kernel picks source address and port")
		return
	}
	ev := g.log.Debug().Str("mode", "raw")
	if r, err := s.pr.Route(first); err == nil {
		ev = ev.Stringer("source", r.Src).Str("interface", r.Ifname).Stringer("to", first)
		if r.Gateway.IsValid() {
			ev = ev.Stringer("gateway", r.Gateway)
		}
	} else {
		ev = ev.Str("route", err.Error())
	}
	ev.Msg("probing with hand-built SYNs on raw sockets")
}

// logOutputs logs where the results go.
func (g *globals) logOutputs(format string, files ...outputFile) {
	ev := g.log.Debug().Str("stdout", format)
	var none []string
	for _, f := range files {
		name := strings.TrimPrefix(f.flag, "--")
		if f.path == "" {
			none = append(none, name)
			continue
		}
		ev = ev.Str(name, f.path)
	}
	ev.Strs("not_written", none).Msg("outputs")
}
