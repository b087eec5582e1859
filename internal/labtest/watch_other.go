//go:build !linux

package labtest

import (
	"errors"
	"runtime"
)

// watchWrites: no lab, and so no capture, outside Linux.
func watchWrites(string) (<-chan struct{}, func(), error) {
	return nil, nil, errors.New("labtest: no capture on " + runtime.GOOS)
}
