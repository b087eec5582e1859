package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/synprobe/synprobe/internal/lab"
)

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build and use the network-namespace lab (as root)",
		Long: `The lab is a set of network namespaces on this machine: a prober, two
routers and Linux targets with known behaviour (open and closed ports,
firewalls, initial TTLs, MSS, delay and loss), all in 198.18.0.0/15. Nothing
in it can reach outside the machine. See docs/NETLAB.md.`,
		// A subcommand is required: "synprobe lab" alone or with an
		// unknown one is bad usage (exit 2), as for any command.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			want := strings.Join(names, ", ")
			if len(args) == 0 {
				return usageErrorf("lab: give a subcommand: %s (synprobe lab --help)", want)
			}
			return usageErrorf("lab: unknown subcommand %q: want %s (synprobe lab --help)", args[0], want)
		},
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "up",
			Short: "Build the demo lab and print what each target should show",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := needRoot("lab up"); err != nil {
					return err
				}
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				st, err := lab.Up(exe, "lab", "daemon")
				if err != nil {
					return &exitError{code: exitNoProbe, err: err}
				}
				printDemo(cmd.OutOrStdout())
				fmt.Fprintf(cmd.OutOrStdout(), "\ndelay and loss: %s (see docs/NETLAB.md)\n", st.WireMode)
				return nil
			},
		},
		&cobra.Command{
			Use:   "down",
			Short: "Remove the demo lab and anything a crashed run left behind",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := needRoot("lab down"); err != nil {
					return err
				}
				removed, err := lab.Down()
				if err != nil {
					return &exitError{code: exitNoProbe, err: err}
				}
				if len(removed) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "lab down (removed %d leftover namespaces)\n", len(removed))
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "lab down")
				}
				return nil
			},
		},
		&cobra.Command{
			Use:   "status",
			Short: "Say whether the demo lab is up, and list lab namespaces",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				w := cmd.OutOrStdout()
				st, err := lab.ReadState()
				switch {
				case err == nil && st.Alive():
					topo := lab.Demo()
					fmt.Fprintf(w, "lab up (daemon pid %d, since %s; delay and loss: %s; prober %s on %s)\n",
						st.PID, st.Started.UTC().Format(time.RFC3339), st.WireMode, proberAddr(topo), topo.ProberInterface("r1"))
				case err == nil:
					fmt.Fprintf(w, "lab state left by daemon pid %d, which is gone: run synprobe lab down\n", st.PID)
				default:
					fmt.Fprintln(w, "lab down")
				}
				left := lab.Leftovers()
				for _, n := range lab.Namespaces() {
					if slices.Contains(left, n) {
						fmt.Fprintf(w, "  namespace %s (leftover of a crashed run: synprobe lab down removes it)\n", n)
					} else {
						fmt.Fprintf(w, "  namespace %s\n", n)
					}
				}
				return nil
			},
		},
		&cobra.Command{
			Use:   "exec -- COMMAND [ARG...]",
			Short: "Run a command in the lab's prober namespace",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				st, err := lab.ReadState()
				if err != nil || !st.Alive() {
					return &exitError{code: exitNoProbe, err: errors.New("lab is not up: run synprobe lab up first")}
				}
				if err := needRoot("lab exec"); err != nil {
					return err
				}
				err = lab.EnterAndExec(st.Namespaces[lab.ProberName], args)
				if errors.Is(err, exec.ErrNotFound) {
					// As a shell says it: 127, command not found.
					return &exitError{code: 127, err: fmt.Errorf("lab exec: %s: command not found", args[0])}
				}
				return &exitError{code: exitNoProbe, err: fmt.Errorf("lab exec: %w", err)}
			},
		},
		&cobra.Command{
			Use:    "daemon",
			Short:  "Hold the demo lab (started by lab up)",
			Hidden: true,
			Args:   cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
				defer stop()
				return lab.Serve(ctx, lab.Demo())
			},
		},
	)
	return cmd
}

// needRoot refuses, in one line, what only root can do: build, remove
// and enter network namespaces.
func needRoot(what string) error {
	if labPrivileged() {
		return nil
	}
	return &exitError{code: exitNoProbe, err: fmt.Errorf("%s needs root (it builds or enters network namespaces): run it with sudo", what)}
}

// proberAddr is the prober's address on its first link.
func proberAddr(t lab.Topology) string {
	for _, n := range t.Nodes {
		if n.Parent == lab.ProberName {
			return n.Link.ParentSide().String()
		}
	}
	return "?"
}

// printDemo says what is in the demo lab and what synprobe should find.
func printDemo(w io.Writer) {
	topo := lab.Demo()
	fmt.Fprintf(w, "lab up: prober %s on %s (run commands there with: synprobe lab exec -- COMMAND)\n\n", proberAddr(topo), topo.ProberInterface("r1"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tIPV6\tHOPS\tWHAT SYNPROBE SHOULD SHOW")
	nodes := topo.Nodes
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Addr.Less(nodes[j].Addr) })
	for _, n := range nodes {
		addr, addr6 := n.Addr.String(), n.Addr6().String()
		if n.Prefix.IsValid() {
			addr += " +" + n.Prefix.String()
		}
		if n.Prefix6.IsValid() {
			addr6 += " +" + n.Prefix6.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", n.Name, addr, addr6, topo.Hops(n.Name), n.Describe)
	}
	tw.Flush()
}
