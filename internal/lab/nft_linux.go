//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Firewalls and MSS clamps are nftables rulesets loaded with `nft -f`
// inside the node's namespace: the nft command (Debian package nftables)
// is the reference implementation of the language, and the rules read here
// exactly as an administrator would write them. They live in the node's
// namespace and vanish with it.

var actionStmt = map[Action]string{
	Accept:                "accept",
	Drop:                  "drop",
	RejectRST:             "reject with tcp reset",
	RejectPortUnreach:     "reject with icmp type port-unreachable",
	RejectHostUnreach:     "reject with icmp type host-unreachable",
	RejectAdminProhibited: "reject with icmp type admin-prohibited",
}

// firewallScript is the ruleset for a target's own input: rules for a port
// first, then the rule for the whole host (TCP only, so that UDP and ICMP
// checks of the lab still work).
func firewallScript(n *Node) string {
	if len(n.Firewall) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("table inet synprobe {\n  chain input {\n    type filter hook input priority filter; policy accept;\n")
	for _, r := range n.Firewall {
		if r.Port != 0 {
			fmt.Fprintf(&b, "    tcp dport %d %s\n", r.Port, actionStmt[r.Action])
		}
	}
	for _, r := range n.Firewall {
		if r.Port == 0 {
			fmt.Fprintf(&b, "    meta l4proto tcp %s\n", actionStmt[r.Action])
		}
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// clampScript is the ruleset for the parent router of a link with ClampMSS:
// SYNs forwarded into or out of the link whose MSS is larger are rewritten.
func clampScript(n *Node) string {
	if n.Link.ClampMSS == 0 {
		return ""
	}
	ifn := ifDown(n.Name)
	m := n.Link.ClampMSS
	return fmt.Sprintf(`table inet synprobe-clamp {
  chain forward {
    type filter hook forward priority mangle; policy accept;
    oifname %q tcp flags syn tcp option maxseg size > %d tcp option maxseg size set %d
    iifname %q tcp flags syn tcp option maxseg size > %d tcp option maxseg size set %d
  }
}
`, ifn, m, m, ifn, m, m)
}

// nft loads script into node's namespace.
func (l *Lab) nft(node, script string) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("nft not found: install nftables (apt-get install nftables): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := l.Command(ctx, node, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s\n%s", node, err, strings.TrimSpace(out.String()), script)
	}
	return nil
}
