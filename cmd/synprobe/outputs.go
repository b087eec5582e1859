package main

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/synprobe/synprobe/results"
)

// outputFile is an output file flag of a command (--junit, --prom,
// --pcap), and where openOutputs puts the file once open.
type outputFile struct {
	flag, path string
	to         **results.Output
}

// openOutputs opens every output file of a command once, before anything
// is probed (results.CreateOutput says how each kind of path is
// written): a typo in a path costs nothing, exit 2 with one line naming
// the path as the user wrote it (never a temporary file's name). Opening
// a FIFO waits for its reader. On error, the files already open are
// aborted; the command defers abortOutputs, so that a file it does not
// commit leaves nothing behind.
func openOutputs(files ...outputFile) error {
	for i, f := range files {
		if f.path == "" {
			continue
		}
		o, err := results.CreateOutput(f.path)
		if err != nil {
			abortOutputs(files[:i]...)
			return usageErrorf("%s %s: %s", f.flag, f.path, outputReason(err))
		}
		*f.to = o
	}
	return nil
}

// outputReason is why an output cannot be written, without the path.
func outputReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return err.Error() // "is a directory", "directory D does not exist", "D is not a directory"
	}
	return "cannot write there: " + err.Error()
}

// abortOutputs aborts the output files not committed.
func abortOutputs(files ...outputFile) {
	for _, f := range files {
		if f.to != nil {
			(*f.to).Abort()
		}
	}
}
