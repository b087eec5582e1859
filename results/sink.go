package results

import (
	"io"
	"sync"
)

// Sink is an output synprobe does not open itself: standard output. Its
// first write error names the sink (an *fs.PathError whose path is the
// sink's name, "stdout"; an ErrWrite) and is kept: every later Write
// returns it and writes nothing. So an error is the same error however
// many writers above the sink return it (a command reports it once), and
// what was written before it stays whole, with no gap after it for a
// full disk that frees up a moment later. Safe for concurrent use.
type Sink struct {
	name string
	w    io.Writer

	mu  sync.Mutex
	err error
}

// NewSink is w, named name in its errors.
func NewSink(name string, w io.Writer) *Sink { return &Sink{name: name, w: w} }

func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = writeError(s.name, err)
	}
	return n, s.err
}

// Err is the first write error, or nil.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
