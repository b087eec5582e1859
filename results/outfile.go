package results

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Output is a file a command writes its results to (--junit, --prom,
// --pcap), opened once by CreateOutput before anything is probed. What
// the path names decides how it is written:
//
//   - a regular file, or nothing yet: atomically. The output goes to a
//     temporary file in the same directory (mode 0644, or the old file's
//     mode), which Commit syncs and renames over the path. Abort, or a
//     failed write, removes it and leaves the old file as it was: a reader
//     (the node exporter's textfile collector) sees the old file or the
//     new one, never half of one.
//   - a symbolic link to a regular file (or to nothing yet): the same, for
//     the file the link leads to; the temporary file goes in that file's
//     directory and the link stays a link.
//   - anything else (a character or block device such as /dev/null, a
//     FIFO, a terminal, /dev/stdout or /proc/self/fd/N, or a link to one):
//     in place. It is opened for writing, neither created nor truncated,
//     and never replaced or removed. A regular file reached through a link
//     in /proc (/dev/stdout redirected to a file) is appended to, after
//     what the command printed there. A socket cannot be opened: an error.
//   - a directory: an error.
//
// Opening a FIFO blocks until a reader opens it too (tcpdump -r FIFO):
// that is what writing to a FIFO is for.
//
// Every error is an *fs.PathError naming the path as given to
// CreateOutput, never the temporary file; every error after CreateOutput
// (a write, sync, close or rename that failed) is an ErrWrite too. Output
// is safe for concurrent use.
type Output struct {
	path string // as given

	mu      sync.Mutex
	f       *os.File
	tmp     string // the temporary file, "" when written in place
	dst     string // what tmp is renamed to
	regular bool   // a regular file, which Commit syncs
	err     error  // the first write error
	done    bool   // committed or aborted
	result  error  // Commit's
}

// CreateOutput opens path for writing, as Output describes. It is also
// the check, before anything is probed, that the output can be written:
// a path in a directory that does not exist, or one that names a
// directory, is an error at once.
func CreateOutput(path string) (*Output, error) {
	o := &Output{path: path}
	if path == "" {
		return nil, o.pathErr("open", fs.ErrInvalid)
	}
	k, err := classify(path)
	if err != nil {
		return nil, o.pathErr("open", err)
	}
	if k.inPlace {
		flag := os.O_WRONLY
		if k.regular {
			flag |= os.O_APPEND
		}
		if o.f, err = os.OpenFile(path, flag, 0); err != nil {
			return nil, o.pathErr("open", err)
		}
		o.regular = k.regular
		return o, nil
	}
	dir := filepath.Dir(k.dst)
	f, err := os.CreateTemp(dir, "."+filepath.Base(k.dst)+".tmp*")
	if err != nil {
		if e := checkDir(dir); e != nil {
			err = e
		}
		return nil, o.pathErr("open", err)
	}
	// CreateTemp makes the file 0600.
	if err := f.Chmod(k.perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, o.pathErr("open", err)
	}
	o.f, o.tmp, o.dst, o.regular = f, f.Name(), k.dst, true
	return o, nil
}

// Name is the path as given to CreateOutput.
func (o *Output) Name() string { return o.path }

// Write writes to the output. After an error every Write, and Commit,
// returns that error.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	if o.done {
		return 0, writeError(o.path, os.ErrClosed)
	}
	n, err := o.f.Write(p)
	if err != nil {
		o.err = writeError(o.path, err)
	}
	return n, o.err
}

// Commit ends the output: a regular file is synced, and a temporary file
// renamed over its path. After a failed Write, Commit is Abort and
// returns that Write's error. A second Commit returns the first's result.
func (o *Output) Commit() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return o.result
	}
	o.done = true
	o.result = o.commit()
	o.f = nil
	return o.result
}

func (o *Output) commit() error {
	if o.err != nil {
		o.abort()
		return o.err
	}
	if o.regular {
		if err := o.f.Sync(); err != nil {
			o.abort()
			return writeError(o.path, err)
		}
	}
	if err := o.f.Close(); err != nil {
		if o.tmp != "" {
			os.Remove(o.tmp)
		}
		return writeError(o.path, err)
	}
	if o.tmp == "" {
		return nil
	}
	if err := os.Rename(o.tmp, o.dst); err != nil {
		os.Remove(o.tmp)
		return writeError(o.path, err)
	}
	// The rename is in the directory: sync it too, where that works.
	if d, err := os.Open(filepath.Dir(o.dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort ends the output without committing it: a temporary file is
// removed (the old file stays as it was); an output written in place is
// closed. After Commit, Abort does nothing; so it may be deferred. A nil
// *Output may be aborted.
func (o *Output) Abort() {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done = true
	o.abort()
	o.result = o.pathErr("write", errAborted)
	o.f = nil
}

var errAborted = errors.New("aborted")

func (o *Output) abort() {
	o.f.Close()
	if o.tmp != "" {
		os.Remove(o.tmp)
	}
}

// WriteAndCommit writes the whole output with write, then commits it; if
// write fails, the output is aborted and the error, named with the path,
// returned.
func (o *Output) WriteAndCommit(write func(io.Writer) error) error {
	if err := write(o); err != nil {
		o.mu.Lock()
		werr := o.err
		o.mu.Unlock()
		o.Abort()
		if werr != nil {
			return werr
		}
		return writeError(o.path, err)
	}
	return o.Commit()
}

// ErrWrite is in every error of an output that was opened but could not
// be written (a write, sync, close or rename that failed): errors.Is(err,
// ErrWrite) tells a failed output from one that could not be opened, and
// from every other failure.
var ErrWrite = errors.New("output not written")

// writeError is err of writing the output named name (a path as given,
// or "stdout"): an *fs.PathError naming it, which is an ErrWrite.
func writeError(name string, err error) error {
	if errors.Is(err, ErrWrite) {
		return err
	}
	return &fs.PathError{Op: "write", Path: name, Err: &notWritten{bare(err)}}
}

// notWritten is the reason an output could not be written, as it is, and
// ErrWrite to errors.Is.
type notWritten struct{ err error }

func (e *notWritten) Error() string        { return e.err.Error() }
func (e *notWritten) Unwrap() error        { return e.err }
func (e *notWritten) Is(target error) bool { return target == ErrWrite }

// pathErr names o's path in err, in place of a temporary file's name or
// the name the kernel gave.
func (o *Output) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: o.path, Err: bare(err)}
}

// bare is err without the *fs.PathError, *os.LinkError or
// *os.SyscallError around it, which name another path or a system call.
func bare(err error) error {
	for {
		var pe *fs.PathError
		var le *os.LinkError
		var se *os.SyscallError
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		case errors.As(err, &se):
			err = se.Err
		default:
			return err
		}
	}
}

// kind is how an output path is written.
type kind struct {
	inPlace bool
	regular bool        // in place: a regular file (through /proc), appended to
	dst     string      // atomic: the file replaced
	perm    fs.FileMode // atomic: the new file's mode
}

// classify decides how path is written; see Output.
func classify(path string) (kind, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		// Nothing there yet (or no directory: CreateTemp says which).
		return kind{dst: path, perm: 0o644}, nil
	case err != nil:
		return kind{}, err
	case fi.Mode().IsRegular():
		return kind{dst: path, perm: fi.Mode().Perm()}, nil
	case fi.IsDir():
		return kind{}, syscall.EISDIR
	case fi.Mode()&fs.ModeSymlink == 0:
		return kind{inPlace: true}, nil // a device, FIFO or socket
	}
	// A symbolic link.
	proc := throughProc(path)
	fi, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !proc:
		// It leads to nothing yet: the file it names is created.
		dst, err := linkTarget(path)
		return kind{dst: dst, perm: 0o644}, err
	case err != nil:
		return kind{}, err
	case fi.IsDir():
		return kind{}, syscall.EISDIR
	case proc || !fi.Mode().IsRegular():
		return kind{inPlace: true, regular: fi.Mode().IsRegular()}, nil
	}
	dst, err := filepath.EvalSymlinks(path)
	return kind{dst: dst, perm: fi.Mode().Perm()}, err
}

// maxLinks bounds a chain of symbolic links, as the kernel does (ELOOP).
const maxLinks = 40

// throughProc reports whether the symbolic link path, or one it leads
// to, is in /proc (/proc/self/fd/N, and /dev/stdout and /dev/fd/N, which
// lead there). Such a link stands for an open file (a pipe, a terminal, a
// file the shell opened), not a name in a directory: what it leads to is
// written in place, never replaced.
func throughProc(path string) bool {
	p := path
	for range maxLinks {
		if onProc(filepath.Dir(p)) {
			return true
		}
		t, err := os.Readlink(p)
		if err != nil {
			return false
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = t
	}
	return false
}

// linkTarget follows the symbolic link path, which leads to nothing yet,
// to the name it leads to (filepath.EvalSymlinks wants that to exist).
func linkTarget(path string) (string, error) {
	p := path
	for range maxLinks {
		t, err := os.Readlink(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = t
	}
	return "", syscall.ELOOP
}

// checkDir explains why no file can be made in dir, if the reason is
// that it is missing or not a directory; nil otherwise.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &dirError{fmt.Sprintf("directory %s does not exist", dir), fs.ErrNotExist}
	case err == nil && !st.IsDir():
		return &dirError{fmt.Sprintf("%s is not a directory", dir), syscall.ENOTDIR}
	}
	return nil
}

// dirError is checkDir's explanation; it unwraps to the plain error.
type dirError struct {
	msg string
	err error
}

func (e *dirError) Error() string { return e.msg }
func (e *dirError) Unwrap() error { return e.err }
