package labtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/synprobe/synprobe/internal/privileged"
	"golang.org/x/sys/unix"
)

// Mknod makes a character device node with the given numbers in dir
// (those of /dev/full, 1 and 7, or of /dev/null, 1 and 3): a test writes
// to its own nodes, never the machine's. It returns the node's path and
// device number.
func Mknod(t testing.TB, dir, name string, major, minor uint32) (string, uint64) {
	t.Helper()
	p := filepath.Join(dir, name)
	dev := unix.Mkdev(major, minor)
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(dev)); err != nil {
		if errors.Is(err, os.ErrPermission) {
			privileged.Skip(t, "mknod: "+err.Error())
		}
		t.Fatal(err)
	}
	return p, dev
}
