package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newLabCmd is replaced by the lab work (issue 3).
func newLabCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lab",
		Short: "Build and use the network-namespace lab",
		RunE: func(*cobra.Command, []string) error {
			return &exitError{code: exitNoProbe, err: errors.New("lab: not built yet")}
		},
	}
}
