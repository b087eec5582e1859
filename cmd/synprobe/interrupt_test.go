//go:build linux

package main

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"
)

// TestInterrupts: the first SIGINT cancels the context; the second calls
// the command's onHurry function, which exits 130; with no such function,
// the second exits 130 at once. (exitProcess is replaced: the test
// process does not exit.)
func TestInterrupts(t *testing.T) {
	exited := make(chan int, 2)
	real := exitProcess
	exitProcess = func(code int) { exited <- code }
	defer func() { exitProcess = real; hurryHandled.Store(false) }()
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	code := func() int {
		t.Helper()
		select {
		case c := <-exited:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no exit")
		}
		return 0
	}

	// Without a handler.
	hurryHandled.Store(false)
	ctx, stop := interruptContext(context.Background())
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	wait("cancellation", ctx.Done())
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	wait("hurry", hurried(ctx))
	if c := code(); c != exitInterrupt {
		t.Fatalf("exit %d", c)
	}
	stop()

	// With one: it runs, then the exit.
	ctx, stop = interruptContext(context.Background())
	defer stop()
	g := &globals{stderr: io.Discard}
	flushed := make(chan struct{})
	stopHurry := g.onHurry(ctx, func() error { close(flushed); return nil })
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	wait("cancellation", ctx.Done())
	select {
	case <-flushed:
		t.Fatal("flushed after one interrupt")
	case <-time.After(100 * time.Millisecond):
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGINT)
	wait("flush", flushed)
	if c := code(); c != exitInterrupt {
		t.Fatalf("exit %d", c)
	}
	_ = stopHurry
}
