package check

import (
	"strings"
	"testing"
)

func TestUniqueNames(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, []string{}},
		{[]string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "a", "a"}, []string{"a", "a#2", "a#3"}},
		{[]string{"a", "a#2", "a"}, []string{"a", "a#2", "a#3"}}, // a#2 is taken by name
		{[]string{"x:80", "y", "x:80"}, []string{"x:80", "y", "x:80#2"}},
	} {
		cs := make([]Check, len(c.in))
		for i, n := range c.in {
			cs[i].Name = n
		}
		UniqueNames(cs)
		got := []string{}
		for _, x := range cs {
			got = append(got, x.Name)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}
