//go:build linux

package labtest

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchWrites returns a channel that is ready after each write to path
// (inotify), coalesced: one receive may stand for several writes. unwatch
// ends the watch.
func watchWrites(path string) (grew <-chan struct{}, unwatch func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("inotify watch %s: %w", path, err)
	}
	// Non-blocking: the runtime's poller waits for it, and Close ends a
	// Read in progress.
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return // closed by unwatch
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { f.Close() }, nil
}
