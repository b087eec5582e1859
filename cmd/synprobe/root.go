package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/probe"
)

// newGlobals are the real program's: the system's resolver and the
// engine.
func newGlobals(stderr io.Writer) *globals {
	return &globals{stderr: stderr, lookup: defaultLookup, open: probe.Open}
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
	root.Version = fullVersion()
	root.SetVersionTemplate("synprobe {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log more: the configuration, the mode chosen, the source address, the outputs, and the engine's debug messages")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "log errors only, no progress line (ping: the summary only)")
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
	addCompletions(root)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print synprobe's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "synprobe %s\n", fullVersion())
			return err
		},
	}
}

// fullVersion is the version set with -ldflags (make build), or else what
// the Go toolchain recorded in the binary: the module version (go install
// ...@v1.2.3) and the commit it was built from, with "-dirty" for a tree
// with changes.
func fullVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return versionString(version, bi, ok)
}

func versionString(ldflags string, bi *debug.BuildInfo, ok bool) string {
	if ldflags != "" && ldflags != "dev" {
		return ldflags
	}
	if !ok || bi == nil {
		return "dev"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	// A module version from the proxy already names its commit.
	if rev != "" && v == "dev" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (" + rev
		if dirty {
			v += "-dirty"
		}
		if at != "" {
			v += ", " + at
		}
		v += ")"
	}
	if bi.GoVersion != "" {
		v += " " + bi.GoVersion
	}
	return v
}
