package results

import (
	"bytes"
	"errors"
	"io/fs"
	"syscall"
	"testing"
)

// flaky fails the writes numbered in fail (from 1), and takes the others.
type flaky struct {
	bytes.Buffer
	n    int
	fail map[int]bool
}

func (f *flaky) Write(p []byte) (int, error) {
	f.n++
	if f.fail[f.n] {
		return 0, &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	}
	return f.Buffer.Write(p)
}

// TestSinkKeepsItsFirstError: a sink's first write error names the sink
// (not the kernel's name for the file), is an ErrWrite that keeps the
// reason, and is returned, the same error, by every later write and by
// Err, which write nothing: a device that takes writes again leaves no
// gap in what was written.
func TestSinkKeepsItsFirstError(t *testing.T) {
	w := &flaky{fail: map[int]bool{2: true}}
	s := NewSink("stdout", w)
	if _, err := s.Write([]byte("line 1\n")); err != nil || s.Err() != nil {
		t.Fatalf("first write: %v, Err %v", err, s.Err())
	}
	_, err := s.Write([]byte("line 2\n"))
	var pe *fs.PathError
	if !errors.Is(err, ErrWrite) || !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) || pe.Path != "stdout" ||
		err.Error() != "write stdout: no space left on device" {
		t.Fatalf("failed write: %v (%#v), want an ErrWrite naming stdout", err, err)
	}
	for _, line := range []string{"line 3\n", "line 4\n"} {
		if _, again := s.Write([]byte(line)); again != err {
			t.Errorf("a write after the error: %v, want the first error, the same", again)
		}
	}
	if s.Err() != err {
		t.Errorf("Err: %v, want %v", s.Err(), err)
	}
	if w.String() != "line 1\n" || w.n != 2 {
		t.Errorf("the writer got %q in %d writes, want line 1 alone: nothing after the error", w.String(), w.n)
	}
}
