//go:build linux

package lab

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool commands from linux/ethtool.h.
const (
	ethtoolSTXCSUM = 0x17 // set TX checksum offload
	ethtoolSTSO    = 0x1f // set TCP segmentation offload
	ethtoolSGSO    = 0x24 // set generic segmentation offload
)

// noOffload turns off TX checksum offload and segmentation offload on
// ifname in the calling thread's namespace. A veth normally hands its peer
// packets whose checksum is still to be filled in and TCP segments larger
// than the MTU; a wire reads frames as bytes with an AF_PACKET socket and
// would pass both on unfinished, so the kernel must finish them first.
func noOffload(ifname string) error {
	for _, cmd := range []uint32{ethtoolSTSO, ethtoolSGSO, ethtoolSTXCSUM} {
		if err := ethtoolSet(ifname, cmd, 0); err != nil {
			return err
		}
	}
	return nil
}

// SetTxChecksumOffload turns TX checksum offload on or off for ifname in
// the calling thread's namespace (run it inside Lab.Do): tests use it to
// make a stack send what a veth normally sends, checksums left to finish.
func SetTxChecksumOffload(ifname string, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	return ethtoolSet(ifname, ethtoolSTXCSUM, v)
}

// ethtoolSet runs one ethtool "set" command (struct ethtool_value) on ifname.
func ethtoolSet(ifname string, cmd, data uint32) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd, data}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = uintptr(unsafe.Pointer(&val))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("ethtool %#x on %s: %w", cmd, ifname, e)
	}
	return nil
}
