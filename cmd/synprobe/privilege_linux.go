//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// labPrivileged reports whether this process may build and enter network
// namespaces: root, or the capabilities that takes (CAP_SYS_ADMIN and
// CAP_NET_ADMIN) given some other way.
func labPrivileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	eff := uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	return eff&(1<<unix.CAP_SYS_ADMIN) != 0 && eff&(1<<unix.CAP_NET_ADMIN) != 0
}
