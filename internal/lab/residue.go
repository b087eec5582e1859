package lab

import (
	"fmt"
	"strings"
)

// Residue is what lab runs left behind on a machine: what `make test`
// checks for after the tests (internal/lab/leftcheck).
type Residue struct {
	// Namespaces are lab namespaces whose owner is gone.
	Namespaces []string
	// OwnerFiles are owner files (/run/synprobe/owners/<id>) whose
	// process is gone.
	OwnerFiles []string
	// Processes still run inside those namespaces, or inside a network
	// namespace that is no longer mounted under /run/netns (deleted while
	// they ran): "PID command (where)".
	Processes []string
	// Tables are lab nftables tables in the caller's own namespace, and
	// Links lab veths there: the lab never puts either outside its
	// namespaces.
	Tables, Links []string
}

// Empty reports whether nothing was left.
func (r Residue) Empty() bool {
	return len(r.Namespaces)+len(r.OwnerFiles)+len(r.Processes)+len(r.Tables)+len(r.Links) == 0
}

func (r Residue) String() string {
	var b strings.Builder
	for _, s := range []struct {
		what  string
		items []string
	}{
		{"lab namespaces whose owner is gone", r.Namespaces},
		{"owner files of processes that are gone", r.OwnerFiles},
		{"processes in lab namespaces or in deleted ones", r.Processes},
		{"lab nftables tables in this namespace", r.Tables},
		{"lab interfaces in this namespace", r.Links},
	} {
		if len(s.items) > 0 {
			fmt.Fprintf(&b, "%s:\n", s.what)
			for _, it := range s.items {
				fmt.Fprintf(&b, "  %s\n", it)
			}
		}
	}
	return b.String()
}
