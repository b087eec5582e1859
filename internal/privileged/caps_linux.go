//go:build linux

package privileged

import (
	"os"

	"golang.org/x/sys/unix"
)

func have() (bool, string) {
	if os.Geteuid() == 0 {
		return true, ""
	}
	// A non-root process may still hold the capabilities (setcap, ambient).
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, "cannot read capabilities: " + err.Error()
	}
	eff := uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	for _, c := range []uint{unix.CAP_NET_ADMIN, unix.CAP_NET_RAW, unix.CAP_SYS_ADMIN} {
		if eff&(1<<c) == 0 {
			return false, "needs root (CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN)"
		}
	}
	return true, ""
}
