// Package results writes probe results in every format synprobe offers:
// an aligned table for people, JSON Lines and CSV for programs, JUnit XML
// and Prometheus text for CI, and pcap for Wireshark. It depends only on
// probe's result types. The field names of JSON Lines and CSV are a
// contract (see the README) and stay stable.
package results

import (
	"math"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// Record is one result as JSON Lines and CSV show it: a value that was not
// measured is nil and left out, never shown as zero.
type Record struct {
	Seq        *int     `json:"seq,omitempty"`
	IP         string   `json:"ip"`
	Port       uint16   `json:"port"`
	State      string   `json:"state"`
	Reason     string   `json:"reason"`
	RTTms      *float64 `json:"rtt_ms,omitempty"`
	TTL        *uint8   `json:"ttl,omitempty"`
	InitialTTL *uint8   `json:"initial_ttl,omitempty"`
	Hops       *uint8   `json:"hops,omitempty"`
	MSS        *uint16  `json:"mss,omitempty"`
	Window     *uint16  `json:"window,omitempty"`
	WScale     *uint8   `json:"wscale,omitempty"`
	SACK       *bool    `json:"sack,omitempty"`
	Timestamps *bool    `json:"timestamps,omitempty"`
	Tries      int      `json:"tries"`
	Time       string   `json:"time"`
}

// Columns are the CSV header, in the order of the JSON fields.
var Columns = []string{"ip", "port", "state", "reason", "rtt_ms", "ttl", "initial_ttl", "hops", "mss", "window", "wscale", "sack", "timestamps", "tries", "time"}

func ptr[T any](v T) *T { return &v }

// Millis is a latency in milliseconds rounded to the microsecond.
func Millis(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// NewRecord converts a Result. withSeq adds the ping sequence number.
func NewRecord(r probe.Result, withSeq bool) Record {
	rec := Record{IP: r.Addr.String(), Port: r.Port, State: r.State.String(), Reason: string(r.Reason), Tries: r.Tries,
		Time: r.Time.UTC().Format(time.RFC3339Nano)}
	if withSeq {
		rec.Seq = ptr(r.Seq)
	}
	if r.Has&probe.HasRTT != 0 {
		rec.RTTms = ptr(Millis(r.RTT))
	}
	if r.Has&probe.HasTTL != 0 {
		rec.TTL, rec.InitialTTL, rec.Hops = ptr(r.TTL), ptr(r.InitialTTL), ptr(r.Hops)
	}
	if r.Has&probe.HasMSS != 0 {
		rec.MSS = ptr(r.MSS)
	}
	if r.Has&probe.HasWindow != 0 { // a TCP reply: its options are known
		rec.Window = ptr(r.Window)
		rec.SACK = ptr(r.SACKPermitted)
		rec.Timestamps = ptr(r.Has&probe.HasTimestamps != 0)
	}
	if r.Has&probe.HasWScale != 0 {
		rec.WScale = ptr(r.WScale)
	}
	return rec
}
