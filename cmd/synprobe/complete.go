package main

import "github.com/spf13/cobra"

// flagValues are the values a flag takes, for shell completion
// (synprobe completion bash|zsh|fish|powershell).
var flagValues = map[string]map[string][]string{
	// per command; "" is any command
	"": {
		"mode":        {"auto\traw if it may, else connect()", "raw\thand-built SYNs (CAP_NET_RAW)", "connect\tthe kernel's connect()"},
		"syn-options": {"linux\tMSS, SACK, timestamps, window scale", "windows\tMSS, NOP, window scale, SACK", "none\tno options"},
		"log-format":  {"console\tfor people", "json\tone JSON object per line"},
	},
	"scan":  {"output": {"table", "jsonl", "csv"}},
	"ping":  {"output": {"text", "jsonl", "csv"}},
	"check": {"output": {"text", "json"}},
}

// addCompletions registers the value completions of every flag in
// flagValues that a command of root has.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, table := range []map[string][]string{flagValues[""], flagValues[c.Name()]} {
			for name, values := range table {
				fl := c.LocalNonPersistentFlags().Lookup(name)
				if c == root {
					fl = c.PersistentFlags().Lookup(name)
				}
				if fl == nil {
					continue
				}
				c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
