package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/craft"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
	"golang.org/x/term"
)

// globals are the flags every command has.
type globals struct {
	verbose, quiet bool
	logFormat      string
	stderr         io.Writer
	stdout         *results.Sink // set by execute
	log            zerolog.Logger
	lookup         resolver
	// open opens the engine; tests replace it.
	open func(probe.OpenConfig) (*probe.Prober, error)
}

func (g *globals) setup() error {
	level := zerolog.InfoLevel
	if g.verbose {
		level = zerolog.DebugLevel
	}
	if g.quiet {
		level = zerolog.ErrorLevel
	}
	switch g.logFormat {
	case "json":
		g.log = zerolog.New(g.stderr).With().Timestamp().Logger().Level(level)
	case "console", "":
		g.log = zerolog.New(zerolog.ConsoleWriter{Out: g.stderr, NoColor: !isTerminal(g.stderr), TimeFormat: time.TimeOnly,
			FormatTimestamp: func(any) string { return "synprobe:" }}).Level(level)
	default:
		return usageErrorf("--log-format %q: want console or json", g.logFormat)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Both families, in the order the system prefers them (RFC 6724); -4
	// and -6 choose among them (parseTarget).
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// probeFlags are the flags of scan, ping and check.
type probeFlags struct {
	mode       string
	timeout    time.Duration
	iface      string
	sourceIP   string
	sourcePort string
	ttl        int
	mss        int
	window     int
	synOptions string
	noReset    bool
	pcap       string
	pcapOut    *results.Output // the --pcap file, opened by openOutputs
	tx         string
	ipv4, ipv6 bool // -4, -6
}

func (f *probeFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", probe.ModeAuto.String(), "raw (hand-built SYNs, needs CAP_NET_RAW), connect (the kernel's connect()), or auto: raw, else connect after a warning")
	fl.DurationVar(&f.timeout, "timeout", probe.DefaultTimeout, "how long to wait for a reply")
	fl.StringVar(&f.iface, "interface", "", "send and receive on this interface only")
	fl.StringVar(&f.sourceIP, "source-ip", "", "source address, IPv4 or IPv6, for the targets of its family (default: from the route to the target)")
	fl.StringVar(&f.sourcePort, "source-port", fmt.Sprintf("%d-%d", probe.DefaultSourcePortLo, probe.DefaultSourcePortHi),
		"source port range; every probe uses a fresh port from it")
	fl.IntVar(&f.ttl, "ttl", int(probe.DefaultTTL), "TTL of the probes (IPv6: their hop limit)")
	fl.IntVar(&f.mss, "mss", int(probe.DefaultMSS), "MSS the probes advertise")
	fl.IntVar(&f.window, "window", int(probe.DefaultWindow), "TCP window of the probes")
	fl.StringVar(&f.synOptions, "syn-options", "linux", "SYN option layout: linux, windows or none")
	fl.BoolVar(&f.noReset, "no-reset", false, "do not send a RST after a SYN-ACK (the local kernel still sends its own)")
	fl.StringVar(&f.pcap, "pcap", "", "write every packet sent and received to this pcap file")
	fl.StringVar(&f.tx, "tx", probe.TxRaw.String(), "transmit path: raw (IP_HDRINCL: the kernel routes and filters each probe) or packet "+
		"(Ethernet frames via AF_PACKET to next hops already resolved: faster, bypasses the local firewall's output chains)")
	fl.BoolVarP(&f.ipv4, "ipv4", "4", false, "IPv4 only: a host name's IPv4 addresses, and IPv6 targets refused")
	fl.BoolVarP(&f.ipv6, "ipv6", "6", false, "IPv6 only: a host name's IPv6 addresses, and IPv4 targets refused")
}

// family is the address family -4 or -6 chose (both: bad usage).
func (f *probeFlags) family() (family, error) {
	switch {
	case f.ipv4 && f.ipv6:
		return anyFamily, usageErrorf("-4 and -6 exclude each other: give one, or neither for both families")
	case f.ipv4:
		return only4, nil
	case f.ipv6:
		return only6, nil
	}
	return anyFamily, nil
}

// engineParams are probeFlags checked and converted.
type engineParams struct {
	open        probe.OpenConfig
	fam         family
	ttl         uint8
	mss, window uint16
	layout      craft.Layout
}

func (f *probeFlags) params() (engineParams, error) {
	var p engineParams
	var err error
	if p.open.Mode, err = probe.ParseMode(f.mode); err != nil {
		return p, usageErrorf("--mode %q: want auto, raw or connect", f.mode)
	}
	if f.timeout <= 0 {
		return p, usageErrorf("--timeout must be positive")
	}
	if p.fam, err = f.family(); err != nil {
		return p, err
	}
	if f.sourceIP != "" {
		parse := parseIPv4
		if strings.Contains(f.sourceIP, ":") {
			parse = parseIPv6
		}
		a, err := parse(f.sourceIP)
		if err != nil {
			return p, usageErrorf("--source-ip: %v", err)
		}
		if !p.fam.takes(a) {
			return p, usageErrorf("--source-ip %s is %s, and %s takes %s addresses only", a, familyOf(a), p.fam.flag(), p.fam)
		}
		p.open.Source = a
	}
	lo, hi, ok := strings.Cut(f.sourcePort, "-")
	if !ok {
		hi = lo
	}
	l, err1 := parsePort(lo)
	h, err2 := parsePort(hi)
	if err1 != nil || err2 != nil || h < l {
		return p, usageErrorf("--source-port %q: want a port or a range such as 40000-49999", f.sourcePort)
	}
	p.open.SourcePortLo, p.open.SourcePortHi = l, h
	if f.ttl < 1 || f.ttl > 255 {
		return p, usageErrorf("--ttl must be 1-255")
	}
	if f.mss < 1 || f.mss > 65535 {
		return p, usageErrorf("--mss must be 1-65535")
	}
	if f.window < 0 || f.window > 65535 {
		return p, usageErrorf("--window must be 0-65535")
	}
	p.ttl, p.mss, p.window = uint8(f.ttl), uint16(f.mss), uint16(f.window)
	if p.layout, err = craft.ParseLayout(f.synOptions); err != nil {
		return p, usageErrorf("--syn-options: %v", err)
	}
	if p.open.Tx, err = probe.ParseTxPath(f.tx); err != nil {
		return p, usageErrorf("--tx: %v", err)
	}
	p.open.Interface = f.iface
	return p, nil
}

// session is what a probing command holds while it runs: the engine, its
// output files and the --pcap hook.
type session struct {
	pr      *probe.Prober
	outputs []outputFile
	capture probe.CaptureFunc
	finish  func() error // flushes the pcap and closes the engine
}

// start opens a probing command's output files (--pcap among them, and
// files) and then the engine, and logs at debug level the configuration,
// what was chosen (probing first) and where the results go, in format on
// stdout. Nothing is probed before every output file is open, so a typo
// in a path costs nothing. The command defers sess.abort.
func (g *globals) start(cmd *cobra.Command, f *probeFlags, p engineParams, format string, first netip.Addr, files ...outputFile) (*session, error) {
	files = append(files, outputFile{"--pcap", f.pcap, &f.pcapOut})
	if err := openOutputs(files...); err != nil {
		return nil, err
	}
	g.logConfig(cmd)
	sess, err := g.openEngine(f, p)
	if err != nil {
		abortOutputs(files...)
		return nil, err
	}
	sess.outputs = files
	g.logSession(sess, first)
	g.logOutputs(format, files...)
	return sess, nil
}

// abort leaves every output file not committed as it was.
func (s *session) abort() { abortOutputs(s.outputs...) }

// openEngine opens the engine and hooks the pcap file to it.
func (g *globals) openEngine(f *probeFlags, p engineParams) (*session, error) {
	pr, err := g.open(p.open)
	if err != nil {
		return nil, &exitError{code: exitNoProbe, err: withHint(err)}
	}
	if fb := pr.Fallback(); fb != nil {
		g.log.Warn().Msg("no raw sockets (" + withHint(fb).Error() + "); falling back to connect() probes: state, latency, MSS and ICMP errors, without the TTL, window and options of replies")
	}
	hook, finish, err := capture(f.pcapOut)
	if err != nil {
		pr.Close()
		return nil, err
	}
	return &session{pr: pr, capture: hook, finish: func() error {
		err := finish()
		if pr.Mode() == probe.ModeRaw {
			// With --tx packet, -v says how many probes the fast path
			// took: the others went through the kernel (next hop not
			// yet resolved, interface not Ethernet, ...).
			st := pr.Stats()
			g.log.Debug().Uint64("raw", st.Raw).Uint64("packet", st.Packet).Msg("packets sent per transmit path")
			if st.StampsLost > 0 {
				g.log.Warn().Uint64("stamps", st.StampsLost).Msg("transmit stamps lost, the packet tap's ring being full, so those probes' latencies are missing: " +
					"the receiving goroutine fell behind; a lower --rate or fewer --senders keeps every one")
			}
		}
		return errors.Join(err, couldNotProbe(pr.Close()))
	}}, nil
}

// pingConfig is the engine's configuration for probing dst count times.
func (s *session) pingConfig(g *globals, f *probeFlags, p engineParams, dst netip.AddrPort, count int, interval time.Duration) probe.PingConfig {
	return probe.PingConfig{Target: dst, Count: count, Interval: interval, Timeout: f.timeout, TTL: p.ttl, MSS: p.mss,
		Window: p.window, Layout: p.layout, NoReset: f.noReset, Logger: g.log, Capture: s.capture}
}

// capture returns the engine's capture hook for --pcap, which writes to
// out (nil without --pcap), and a finish func that commits out.
func capture(out *results.Output) (probe.CaptureFunc, func() error, error) {
	if out == nil {
		return nil, func() error { return nil }, nil
	}
	pw, err := results.NewPcapWriter(out)
	if err != nil {
		out.Abort()
		return nil, nil, err
	}
	hook := func(_ probe.Direction, pkt []byte, t time.Time) { pw.WritePacket(t, pkt) }
	return hook, func() error {
		if err := pw.Flush(); err != nil {
			out.Abort()
			return err
		}
		return out.Commit()
	}, nil
}

// resolveTargetPort parses HOST:PORT or [IPv6-ADDRESS]:PORT for ping:
// one address, the first of a host name's (of fam).
func resolveTargetPort(ctx context.Context, s string, lookup resolver, fam family) (netip.AddrPort, error) {
	t, err := parseTarget(ctx, s, lookup, pick{fam: fam, first: true}, func(string) {})
	if err != nil {
		return netip.AddrPort{}, usageErrorf("%v", err)
	}
	if t.port == 0 {
		if strings.Contains(s, ":") {
			return netip.AddrPort{}, usageErrorf("target %q: want [IPv6-ADDRESS]:PORT (an IPv6 address with a port is written in brackets)", s)
		}
		return netip.AddrPort{}, usageErrorf("target %q: want HOST:PORT", s)
	}
	if t.ranges[0].First != t.ranges[0].Last {
		return netip.AddrPort{}, usageErrorf("target %q: ping takes one address", s)
	}
	return netip.AddrPortFrom(t.ranges[0].First, t.port), nil
}
