package check

import "fmt"

// UniqueNames gives every check its own name, so that the Prometheus
// series, JUnit test cases and summary lines of two checks with the same
// name (two checks of one target:port, named after it) cannot be
// confused: the second is NAME#2, the third NAME#3, and so on.
func UniqueNames(cs []Check) {
	names := make([]string, len(cs))
	for i := range cs {
		names[i] = cs[i].Name
	}
	for i, n := range uniqueStrings(names) {
		cs[i].Name = n
	}
}

// uniqueStrings returns names with every repeat renamed NAME#N, N the
// smallest number from 2 on that makes it unique.
func uniqueStrings(names []string) []string {
	out := make([]string, len(names))
	taken := map[string]bool{}
	for _, n := range names {
		taken[n] = true
	}
	first := map[string]bool{}
	for i, n := range names {
		if !first[n] {
			first[n] = true
			out[i] = n
			continue
		}
		k := 2
		for taken[fmt.Sprintf("%s#%d", n, k)] {
			k++
		}
		out[i] = fmt.Sprintf("%s#%d", n, k)
		taken[out[i]] = true
	}
	return out
}
