package results

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/synprobe/synprobe/probe"
)

// appendJSON appends r as one JSON object, the bytes json.Marshal gives
// for NewRecord(r, withSeq), without allocating: a fast scan writes a
// line per result from the receiving goroutine, and the garbage of
// json.Marshal (a Record of pointers, reflection, strings) grew the heap
// by tens of MB a second. TestAppendJSONMatchesEncodingJSON holds the two
// to the same bytes.
func appendJSON(b []byte, r probe.Result, withSeq bool) []byte {
	b = append(b, '{')
	if withSeq {
		b = append(b, `"seq":`...)
		b = strconv.AppendInt(b, int64(r.Seq), 10)
		b = append(b, ',')
	}
	b = append(b, `"ip":`...)
	if r.Addr.IsValid() && r.Addr.Zone() == "" {
		b = append(r.Addr.AppendTo(append(b, '"')), '"')
	} else {
		b = appendString(b, r.Addr.String()) // "invalid IP", or a zone to escape
	}
	b = append(b, `,"port":`...)
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, `,"state":`...)
	b = appendString(b, r.State.String())
	b = append(b, `,"reason":`...)
	b = appendString(b, string(r.Reason))
	if r.Has&probe.HasRTT != 0 {
		b = append(b, `,"rtt_ms":`...)
		b = appendFloat(b, Millis(r.RTT))
	}
	if r.Has&probe.HasTTL != 0 {
		b = appendUintField(b, `,"ttl":`, uint64(r.TTL))
		b = appendUintField(b, `,"initial_ttl":`, uint64(r.InitialTTL))
		b = appendUintField(b, `,"hops":`, uint64(r.Hops))
	}
	if r.Has&probe.HasMSS != 0 {
		b = appendUintField(b, `,"mss":`, uint64(r.MSS))
	}
	if r.Has&probe.HasWindow != 0 {
		b = appendUintField(b, `,"window":`, uint64(r.Window))
	}
	if r.Has&probe.HasWScale != 0 {
		b = appendUintField(b, `,"wscale":`, uint64(r.WScale))
	}
	if r.Has&probe.HasWindow != 0 { // a TCP reply: its options are known
		b = append(b, `,"sack":`...)
		b = strconv.AppendBool(b, r.SACKPermitted)
		b = append(b, `,"timestamps":`...)
		b = strconv.AppendBool(b, r.Has&probe.HasTimestamps != 0)
	}
	b = append(b, `,"tries":`...)
	b = strconv.AppendInt(b, int64(r.Tries), 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

func appendUintField(b []byte, name string, v uint64) []byte {
	return strconv.AppendUint(append(b, name...), v, 10)
}

// appendString appends s as a JSON string. The strings here are names
// (states, reasons) that need no escaping; anything else takes
// encoding/json's way, escapes and all.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat formats f as encoding/json does: the shortest decimal that
// reads back as f, in exponent form only below 1e-6 or from 1e21 on.
func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...) // json.Marshal fails here; a line must still be whole
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		q, _ := json.Marshal(f)
		return append(b, q...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
