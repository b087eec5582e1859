package results

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// Writer takes results one at a time and finishes with a summary.
type Writer interface {
	Write(r probe.Result) error
	// Close writes what comes at the end (a table's rows and summary
	// line) and flushes.
	Close() error
}

// New returns the writer for format "table", "jsonl" or "csv". Ping
// output (withSeq) adds the sequence number.
func New(format string, w io.Writer, withSeq bool) (Writer, error) {
	switch format {
	case "jsonl", "json":
		return &jsonlWriter{bw: bufio.NewWriter(w), seq: withSeq}, nil
	case "csv":
		return &csvWriter{cw: csv.NewWriter(w), seq: withSeq}, nil
	case "table":
		return &tableWriter{w: w, start: time.Now()}, nil
	}
	return nil, fmt.Errorf("unknown output format %q (want table, jsonl or csv)", format)
}

type jsonlWriter struct {
	bw   *bufio.Writer
	seq  bool
	line []byte
}

// Write writes one line and flushes it, so that a reader (or an
// interrupted run) always sees whole lines. It allocates nothing.
func (j *jsonlWriter) Write(r probe.Result) error {
	j.line = append(appendJSON(j.line[:0], r, j.seq), '\n')
	j.bw.Write(j.line)
	return j.bw.Flush()
}

func (j *jsonlWriter) Close() error { return j.bw.Flush() }

// WriteSummary ends ping's JSON Lines with {"summary": {...}}. The
// latency figures are left out when no probe was answered: absent, not 0.
func WriteSummary(w io.Writer, s PingStats) error {
	type sum struct {
		Sent      int      `json:"sent"`
		Received  int      `json:"received"`
		LossPct   float64  `json:"loss_pct"`
		RTTMin    *float64 `json:"rtt_min_ms,omitempty"`
		RTTAvg    *float64 `json:"rtt_avg_ms,omitempty"`
		RTTMax    *float64 `json:"rtt_max_ms,omitempty"`
		RTTStdDev *float64 `json:"rtt_stddev_ms,omitempty"`
		RTTP50    *float64 `json:"rtt_p50_ms,omitempty"`
		RTTP90    *float64 `json:"rtt_p90_ms,omitempty"`
		RTTP99    *float64 `json:"rtt_p99_ms,omitempty"`
	}
	o := sum{Sent: s.Sent, Received: s.Received, LossPct: roundPct(s.LossPct)}
	if s.Received > 0 {
		o.RTTMin, o.RTTAvg, o.RTTMax = ptr(Millis(s.Min)), ptr(Millis(s.Avg)), ptr(Millis(s.Max))
		o.RTTStdDev, o.RTTP50, o.RTTP90, o.RTTP99 = ptr(Millis(s.StdDev)), ptr(Millis(s.P50)), ptr(Millis(s.P90)), ptr(Millis(s.P99))
	}
	b, err := json.Marshal(map[string]sum{"summary": o})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func roundPct(p float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(p, 'f', 2, 64), 64)
	return v
}

type csvWriter struct {
	cw     *csv.Writer
	seq    bool
	header bool
}

func (c *csvWriter) Write(r probe.Result) error {
	if !c.header {
		h := Columns
		if c.seq {
			h = append([]string{"seq"}, Columns...)
		}
		c.cw.Write(h)
		c.header = true
	}
	rec := NewRecord(r, c.seq)
	row := []string{rec.IP, strconv.Itoa(int(rec.Port)), rec.State, rec.Reason, optF(rec.RTTms), opt(rec.TTL), opt(rec.InitialTTL),
		opt(rec.Hops), opt(rec.MSS), opt(rec.Window), opt(rec.WScale), opt(rec.SACK), opt(rec.Timestamps), strconv.Itoa(rec.Tries), rec.Time}
	if c.seq {
		row = append([]string{strconv.Itoa(r.Seq)}, row...)
	}
	if err := c.cw.Write(row); err != nil {
		return err
	}
	c.cw.Flush()
	return c.cw.Error()
}

func (c *csvWriter) Close() error {
	if !c.header {
		c.cw.Write(Columns)
	}
	c.cw.Flush()
	return c.cw.Error()
}

func opt[T any](p *T) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}

func optF(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', 3, 64)
}

// tableWriter collects results and prints them aligned, sorted by address
// and port, with a summary line.
type tableWriter struct {
	w       io.Writer
	rs      []probe.Result
	start   time.Time
	elapsed func() time.Duration // time.Since(start) unless a test fixes it
}

func (t *tableWriter) Write(r probe.Result) error { t.rs = append(t.rs, r); return nil }

func (t *tableWriter) Close() error {
	SortResults(t.rs)
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tSTATE\tREASON\tRTT\tTTL\tHOPS\tMSS\tWIN\tOPTIONS")
	counts := map[probe.State]int{}
	for _, r := range t.rs {
		counts[r.State]++
		rec := NewRecord(r, false)
		rtt := "-"
		if rec.RTTms != nil {
			rtt = strconv.FormatFloat(*rec.RTTms, 'f', 3, 64) + "ms"
		}
		ttl, hops := "-", "-"
		if rec.TTL != nil {
			ttl = fmt.Sprintf("%d/%d", *rec.TTL, *rec.InitialTTL)
			hops = strconv.Itoa(int(*rec.Hops))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.AddrPort(), rec.State, rec.Reason, rtt, ttl, hops,
			dash(opt(rec.MSS)), dash(opt(rec.Window)), options(r))
	}
	tw.Flush()
	_, err := fmt.Fprintf(t.w, "\n%d results: %d open, %d closed, %d filtered in %s\n", len(t.rs), counts[probe.StateOpen],
		counts[probe.StateClosed], counts[probe.StateFiltered], t.took().Round(time.Millisecond))
	return err
}

func (t *tableWriter) took() time.Duration {
	if t.elapsed != nil {
		return t.elapsed()
	}
	return time.Since(t.start)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func options(r probe.Result) string {
	if r.Has&probe.HasWindow == 0 {
		return "-"
	}
	var o []string
	if r.Has&probe.HasWScale != 0 {
		o = append(o, "wscale "+strconv.Itoa(int(r.WScale)))
	}
	if r.SACKPermitted {
		o = append(o, "sack")
	}
	if r.Has&probe.HasTimestamps != 0 {
		o = append(o, "ts")
	}
	if len(o) == 0 {
		return "none"
	}
	return strings.Join(o, ",")
}

// SortResults orders results by address, then port, then sequence.
func SortResults(rs []probe.Result) {
	slices.SortStableFunc(rs, func(a, b probe.Result) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return a.Seq - b.Seq
	})
}
