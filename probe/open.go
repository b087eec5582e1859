package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/synprobe/synprobe/raw"
)

// Mode is how a Prober sends probes.
type Mode uint8

const (
	// ModeAuto is raw where the process may open raw sockets, else
	// connect (Prober.Fallback says why).
	ModeAuto Mode = iota
	// ModeRaw sends hand-built SYNs through raw sockets (CAP_NET_RAW).
	ModeRaw
	// ModeConnect probes with the kernel's connect(): no privilege
	// needed, and less to report (see ConnectProbe).
	ModeConnect
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeRaw:
		return "raw"
	case ModeConnect:
		return "connect"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses the names String returns.
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeAuto, ModeRaw, ModeConnect} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("mode %q: want auto, raw or connect", s)
}

// TxPath is a transmit path for raw mode: TxRaw (the default) or TxPacket.
type TxPath = raw.TxPath

const (
	TxRaw    = raw.TxRaw
	TxPacket = raw.TxPacket
)

// ParseTxPath parses a transmit path name: "raw" or "packet".
func ParseTxPath(s string) (TxPath, error) { return raw.ParseTxPath(s) }

// Route is what the kernel would use to reach a destination.
type Route = raw.Route

// TxStats counts the packets sent per transmit path, and the transmit
// stamps the kernel could not keep.
type TxStats = raw.TxStats

// OpenConfig says how a Prober sends. Zero values take the defaults.
type OpenConfig struct {
	Mode Mode
	// Interface fixes the outgoing interface (raw mode).
	Interface string
	// Source fixes the source address; otherwise the route to each
	// target chooses it.
	Source netip.Addr
	// SourcePortLo..SourcePortHi are the source ports every probe's comes
	// from (DefaultSourcePortLo..Hi when both are zero).
	SourcePortLo, SourcePortHi uint16
	// Tx is the transmit path in raw mode.
	Tx TxPath
	// Writers is how many goroutines send at once (a scan's senders, and
	// one for the RSTs).
	Writers int
	// Listen opens the raw sockets; nil is raw.Listen. Tests replace it.
	Listen func(*raw.Config) (Conn, error)
}

// Prober sends probes the way Open chose: hand-built SYNs through raw
// sockets, or the kernel's connect(). Scan and Ping run one at a time.
type Prober struct {
	cfg      OpenConfig
	conn     Conn // nil in connect mode
	fallback error
}

// Open opens a Prober. In ModeAuto it falls back to connect mode when the
// process may not open raw sockets or the system has none; Fallback says
// why. Errors wrap raw's (errors.Is(err, os.ErrPermission) when the
// process lacks CAP_NET_RAW).
func Open(cfg OpenConfig) (*Prober, error) {
	cfg.SourcePortLo, cfg.SourcePortHi = portRange(cfg.SourcePortLo, cfg.SourcePortHi)
	p := &Prober{cfg: cfg}
	if cfg.Mode == ModeConnect {
		return p, nil
	}
	listen := cfg.Listen
	if listen == nil {
		listen = func(c *raw.Config) (Conn, error) {
			conn, err := raw.Listen(c)
			if err != nil {
				return nil, err
			}
			return conn, nil
		}
	}
	conn, err := listen(&raw.Config{PortLo: cfg.SourcePortLo, PortHi: cfg.SourcePortHi, Source: cfg.Source,
		Interface: cfg.Interface, Tx: cfg.Tx, Writers: cfg.Writers})
	if err == nil {
		p.conn = conn
		return p, nil
	}
	if cfg.Mode == ModeAuto && (errors.Is(err, os.ErrPermission) || errors.Is(err, raw.ErrPermission) ||
		errors.Is(err, raw.ErrNotSupported)) {
		p.fallback = err
		return p, nil
	}
	return nil, err
}

// Mode is ModeRaw or ModeConnect: what Open chose.
func (p *Prober) Mode() Mode {
	if p.conn == nil {
		return ModeConnect
	}
	return ModeRaw
}

// Fallback is why ModeAuto fell back to connect mode, or nil.
func (p *Prober) Fallback() error { return p.fallback }

// Scan runs a scan (see Scan; ConnectScan in connect mode). The source
// address and ports are the Prober's.
func (p *Prober) Scan(ctx context.Context, cfg ScanConfig, emit func(Result), prog *Progress) error {
	if p.conn == nil {
		return ConnectScan(ctx, ConnectConfig{Targets: cfg.Targets, Ports: cfg.Ports, Rate: cfg.Rate, Timeout: cfg.Timeout,
			Shard: cfg.Shard, Shards: cfg.Shards, Seed: cfg.Seed}, emit, prog)
	}
	cfg.Source, cfg.SourcePortLo, cfg.SourcePortHi = p.cfg.Source, p.cfg.SourcePortLo, p.cfg.SourcePortHi
	return Scan(ctx, cfg, p.conn, emit, prog)
}

// Ping runs a ping (see Ping; ConnectPing in connect mode). The source
// address and ports are the Prober's.
func (p *Prober) Ping(ctx context.Context, cfg PingConfig, emit func(Result)) (Summary, error) {
	if p.conn == nil {
		return ConnectPing(ctx, cfg, emit)
	}
	cfg.Source, cfg.SourcePortLo, cfg.SourcePortHi = p.cfg.Source, p.cfg.SourcePortLo, p.cfg.SourcePortHi
	return Ping(ctx, cfg, p.conn, emit)
}

// Route is the kernel's route to dst, as raw mode would use it.
func (p *Prober) Route(dst netip.Addr) (Route, error) {
	if p.conn == nil {
		return Route{}, errors.New("connect mode: the kernel routes each connect")
	}
	return p.conn.Route(dst)
}

// Stats counts what was sent per transmit path (raw mode).
func (p *Prober) Stats() TxStats {
	if s, ok := p.conn.(interface{ Stats() raw.TxStats }); ok {
		return s.Stats()
	}
	return TxStats{}
}

// Close closes the sockets.
func (p *Prober) Close() error {
	if p.conn == nil {
		return nil
	}
	return p.conn.Close()
}
