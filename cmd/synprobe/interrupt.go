package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A signal to stop (SIGINT: Ctrl-C; SIGTERM: kill, systemd, a CI job's
// timeout; SIGHUP: a closed terminal or ssh session) stops sending, waits
// out the cooldown for late replies and writes every result, as a run
// that ended; the exit code is 128 + the signal's number (130, 143,
// 129). A second one means now: the command writes what it already has,
// still as valid output, and exits without waiting, with the first's
// code. A signal ignored when synprobe started (SIGHUP under nohup,
// SIGINT for a job a script put in the background) stays ignored.

type hurryKey struct{}

// hurryHandled says a command handles the second interrupt itself
// (onHurry was called).
var hurryHandled atomic.Bool

// stopSignals are the signals that end a run, as SIGINT does.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// interruptContext returns a context cancelled by the first of
// stopSignals (its cause a *signalError naming it), carrying a channel
// closed by the second.
func interruptContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	hurry := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	for _, s := range stopSignals {
		// Notify would undo the ignoring.
		if !signal.Ignored(s) {
			signal.Notify(sigs, s)
		}
	}
	quit := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(&signalError{sig: s.(syscall.Signal)})
		case <-quit:
			return
		}
		select {
		case <-sigs:
			close(hurry)
			// A command with nothing to write (lab up, say) just stops.
			// One that has written its output is about to end anyway.
			if !hurryHandled.Load() {
				exitProcess(exitCodeOf(interrupted(ctx)))
			}
		case <-quit:
		}
	}()
	return context.WithValue(ctx, hurryKey{}, (<-chan struct{})(hurry)), func() {
		signal.Stop(sigs)
		close(quit)
		cancel(nil)
	}
}

// interrupted is what ended the run early: the signal (a *signalError)
// once ctx is cancelled, nil before. A context cancelled otherwise (a
// test's) counts as SIGINT.
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	var se *signalError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return &signalError{sig: syscall.SIGINT}
}

// hurried is the channel closed by a second interrupt; nil (never ready)
// when ctx has none.
func hurried(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	return ch
}

// onHurry runs flush when a second interrupt comes before the returned
// stop is called, then ends the process as main would: flush's error and
// stdout's said on stderr, the first signal's exit code. Once flush has
// started, stop blocks until the process exits, so the command's own
// ending never races it.
func (g *globals) onHurry(ctx context.Context, flush func() error) (stop func()) {
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
		err := errors.Join(interrupted(ctx), flush())
		if g.stdout != nil {
			err = errors.Join(err, g.stdout.Err())
		}
		exitProcess(exitCode(g.finalError(err), g.stderr))
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

// within runs f and returns its error, but gives up waiting after d
// (and returns nil): on the way out after a second interrupt, nothing
// may hold the exit up for long.
func within(d time.Duration, f func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		return nil
	}
}
