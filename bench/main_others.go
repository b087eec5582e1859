//go:build !linux

package main

import (
	"context"
	"errors"
	"runtime"
)

func run(context.Context, []string) error {
	return errors.New("the benchmark runs in the namespace lab, which needs Linux; not supported on " + runtime.GOOS)
}
