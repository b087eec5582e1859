package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// The limits of a file of targets (--exclude-file). A wrong path (a
// device, a log, /dev/zero, a FIFO that never ends) must fail at once, in
// little memory, instead of being read without end: the file is read a
// line at a time through a byte limit, never whole. A line is a target
// and a comment, so 4,096 bytes is ample. 1 MiB, as for a check file, is
// some 60,000 CIDRs, read in well under a second; as each exclusion costs
// 48 bytes and more in the scan's plan, the limit bounds memory too (a
// file of addresses at the limit takes some 30 MB to read).
const (
	maxListFileSize = 1 << 20
	maxListLineLen  = 4096
)

// errListTooLarge and errLineTooLong are returned (wrapped, with the
// file's name and the line reached) for a file over the limits.
var (
	errListTooLarge = errors.New("the file is larger than 1 MiB, the limit")
	errLineTooLong  = fmt.Errorf("line is longer than %d bytes, the limit", maxListLineLen)
)

// readListFile calls each with every line of the file at path (its
// number from 1, the line without its end), stopping at each's first
// error; what names the file in an error opening it ("exclude file").
// It reads through the limits above and stops when ctx is cancelled
// (Ctrl-C, SIGTERM), even in a read or an open that blocks: a FIFO
// without a writer, or whose writer never closes it. Every error starts
// with PATH:LINE, except one opening the file.
func readListFile(ctx context.Context, what, path string, each func(line int, s string) error) error {
	f, err := openContext(ctx, path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	// A read that blocks (a FIFO, a terminal) ends when the file is
	// closed, on Linux, where these are read through the runtime's poller.
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()

	var consumed int64
	sc := bufio.NewScanner(io.LimitReader(f, maxListFileSize+1))
	sc.Buffer(make([]byte, 0, 4096), maxListLineLen+2)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := bufio.ScanLines(data, atEOF)
		switch {
		case len(tok) > maxListLineLen, adv == 0 && len(data) > maxListLineLen+1:
			// Longer than the limit even without its "\r\n".
			return 0, nil, errLineTooLong
		case consumed+int64(adv) > maxListFileSize:
			// This line ends past the limit (or is cut by it).
			return 0, nil, errListTooLarge
		}
		consumed += int64(adv)
		return adv, tok, err
	})
	line := 1
	for ; ctx.Err() == nil && sc.Scan(); line++ {
		if err := each(line, sc.Text()); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	err = sc.Err()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s:%d: reading stopped: %w", path, line, ctx.Err())
	case errors.Is(err, bufio.ErrTooLong):
		// Not expected: the buffer holds a line at the limit and its
		// "\r\n", so the split function finds a longer one first.
		err = errLineTooLong
	}
	if err != nil {
		return fmt.Errorf("%s:%d: %w", path, line, err)
	}
	return nil
}

// openContext opens path for reading, giving up when ctx is cancelled:
// opening a FIFO waits for a writer, in the kernel, for as long as it
// takes. The open left waiting closes what it opens, if it ever does.
func openContext(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, fmt.Errorf("open %s: stopped: %w", path, ctx.Err())
	}
}

// inputError is the exit error for an error reading input: bad input
// (exit 2, its one line), or, once ctx is cancelled, an interrupted
// command (128 + the signal, with nothing to say, as when a scan is
// interrupted).
func inputError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return interrupted(ctx) // 130, 143 or 129: the signal's
	}
	return usageErrorf("%v", err)
}
