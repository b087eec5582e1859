package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/probe"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	return newRootCmdWith(&globals{stderr: stderr, lookup: defaultLookup, openRaw: probe.OpenRaw}, stdout, stderr)
}

func newRootCmdWith(g *globals, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "synprobe",
		Short:         "TCP handshake prober: port state, handshake latency, TTL and options",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return g.setup()
		},
	}
	pf := root.PersistentFlags()
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log more")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "log errors only, no progress line")
	pf.StringVar(&g.logFormat, "log-format", "console", "log format on stderr: console or json")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(
		newScanCmd(g),
		newPingCmd(g),
		newCheckCmd(g),
		newVersionCmd(),
		newLabCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print synprobe's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "synprobe %s\n", version)
			return err
		},
	}
}
