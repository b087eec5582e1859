package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// checkWritable makes sure that an output file can be written before
// anything is probed, so that a typo in a path costs nothing: exit 2, one
// line naming the path as the user wrote it (never a temporary file's
// name). replaced says the file is written through a temporary file in
// its directory and a rename (--junit, --prom); otherwise it is created
// in place (--pcap). The check leaves nothing behind.
func checkWritable(flag, path string, replaced bool) error {
	if path == "" {
		return nil
	}
	fail := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usageErrorf("%s %s: cannot write there: %v", flag, path, err)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usageErrorf("%s %s: is a directory", flag, path)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("%s %s: directory %s does not exist", flag, path, dir)
		}
		return fail(err)
	} else if !st.IsDir() {
		return usageErrorf("%s %s: %s is not a directory", flag, path, dir)
	}
	if replaced {
		f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check*")
		if err != nil {
			return fail(err)
		}
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fail(err)
	}
	f.Close()
	if errors.Is(statErr, fs.ErrNotExist) {
		os.Remove(path)
	}
	return nil
}

// checkOutputs checks every output file of a command; see checkWritable.
func checkOutputs(files ...outputFile) error {
	for _, f := range files {
		if err := checkWritable(f.flag, f.path, f.replaced); err != nil {
			return err
		}
	}
	return nil
}

type outputFile struct {
	flag, path string
	replaced   bool
}
