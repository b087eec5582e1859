package lab

import "time"

// WireMode says which mechanism delayed and dropped packets.
type WireMode string

const (
	WireNetem WireMode = "netem"      // the kernel's netem qdisc
	WireUser  WireMode = "user-space" // the lab's AF_PACKET wire
)

// State is what `synprobe lab status` reads: the demo lab's daemon, kept
// in a state file while it runs.
type State struct {
	PID        int               `json:"pid"`
	ID         string            `json:"id"`
	Namespaces map[string]string `json:"namespaces"` // node → namespace
	Started    time.Time         `json:"started"`
	WireMode   WireMode          `json:"wire_mode"` // how delay and loss are made
}
