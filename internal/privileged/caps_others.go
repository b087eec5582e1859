//go:build !linux

package privileged

import "runtime"

func have() (bool, string) {
	return false, "the lab and raw sockets need Linux, not " + runtime.GOOS
}
