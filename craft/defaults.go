package craft

// What a SYN carries when its config leaves a field zero: Linux's own
// values on Ethernet. synprobe's engine takes its defaults from these.
const (
	DefaultTTL    uint8  = 64
	DefaultMSS    uint16 = 1460  // Ethernet's 1500 less 40 bytes of headers
	DefaultWindow uint16 = 64240 // Linux's (and Windows') first window for that MSS
)
