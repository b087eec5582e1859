package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Ctrl-C once stops sending, waits out the cooldown for late replies and
// writes every result (exit 130). Ctrl-C twice means now: the command
// writes what it already has, still as valid output, and exits 130
// without waiting.

type hurryKey struct{}

// hurryHandled says a command handles the second interrupt itself
// (onHurry was called).
var hurryHandled atomic.Bool

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM, carrying a channel closed by the second.
func interruptContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	hurry := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-quit:
			return
		}
		select {
		case <-sigs:
			close(hurry)
			// A command with nothing to write (lab up, say) just stops.
			// One that has written its output is about to end anyway.
			if !hurryHandled.Load() {
				exitProcess(exitInterrupt)
			}
		case <-quit:
		}
	}()
	return context.WithValue(ctx, hurryKey{}, (<-chan struct{})(hurry)), func() {
		signal.Stop(sigs)
		close(quit)
		cancel()
	}
}

// hurried is the channel closed by a second interrupt; nil (never ready)
// when ctx has none.
func hurried(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	return ch
}

// onHurry runs flush and exits with 130 when a second interrupt comes
// before the returned stop is called. Once flush has started, stop blocks
// until the process exits, so the command's own ending never races it.
func (g *globals) onHurry(ctx context.Context, flush func()) (stop func()) {
	ch := hurried(ctx)
	if ch == nil {
		return func() {}
	}
	var mu sync.Mutex
	done := make(chan struct{})
	stopped := false
	hurryHandled.Store(true)
	go func() {
		select {
		case <-ch:
		case <-done:
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		g.log.Warn().Msg("interrupted again: writing what is known, without waiting for late replies")
		flush()
		exitProcess(exitInterrupt)
	}()
	return func() {
		mu.Lock()
		if !stopped {
			stopped = true
			close(done)
		}
		mu.Unlock()
	}
}

// within runs f, but gives up waiting after d: on the way out after a
// second interrupt, nothing may hold the exit up for long.
func within(d time.Duration, f func()) {
	ch := make(chan struct{})
	go func() { f(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
	}
}
