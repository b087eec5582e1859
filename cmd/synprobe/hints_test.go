package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/synprobe/synprobe/raw"
)

func TestWithHint(t *testing.T) {
	for _, err := range []error{raw.ErrPermission, fmt.Errorf("raw: open ip4:tcp socket: %w", raw.ErrPermission)} {
		h := withHint(err)
		msg := h.Error()
		if !strings.HasPrefix(msg, err.Error()+"; ") || strings.Contains(msg, "\n") || !strings.Contains(msg, "run as root") ||
			!strings.Contains(msg, "setcap cap_net_raw") || !errors.Is(h, raw.ErrPermission) {
			t.Errorf("%q: %q", err, msg)
		}
		if again := withHint(h); again.Error() != msg {
			t.Errorf("hinted twice: %q", again)
		}
	}
	for _, err := range []error{nil, raw.ErrNotSupported, errors.New("no such host")} {
		if h := withHint(err); h != err {
			t.Errorf("%v: %v, want it unchanged", err, h)
		}
	}
}
