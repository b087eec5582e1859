// Command synprobe probes TCP handshakes with hand-built IPv4 and TCP
// headers: port states, handshake latency, reply TTL and negotiated options.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/synprobe/synprobe/probe"
	"github.com/synprobe/synprobe/results"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes: one meaning each, whatever the command. The README's table
// lists them, each with a test that produces it.
const (
	exitOK        = 0
	exitCheckFail = 1 // a check failed; ping got no answer
	exitUsage     = 2 // bad usage or input: one line, nothing on stdout, nothing sent
	exitNoProbe   = 3 // could not probe, or not fully
	exitOutput    = 4 // an output could not be written (results.ErrWrite)
	// exitSignal plus the signal's number is the exit code of a run a
	// signal ended, as a shell has it: SIGHUP 129, SIGINT 130, SIGTERM 143.
	exitSignal    = 128
	exitInterrupt = exitSignal + int(syscall.SIGINT)
)

// exitStatusHelp is the "Exit status" paragraph of a probing command's
// help: what 0 and 1 mean differs (scan has no 1: it gives no verdict),
// the rest is every command's, as in the README's table.
func exitStatusHelp(ok, verdict string) string {
	s, order := "Exit status: 0 "+ok, "a signal, 2, 3, 4"
	if verdict != "" {
		s, order = s+", 1 "+verdict, "a signal, 2, 3, 1, 4"
	}
	s += ", 2 for bad usage or input (nothing sent), 3 when it could not probe, or not fully, " +
		"4 when an output could not be written, 129, 130, 143 when SIGHUP, SIGINT, SIGTERM ended it " +
		"(128 + the signal's number). When two apply, the first of these wins: " + order + "."
	return wrap(s, 78)
}

// wrap breaks s into lines of at most width columns, between words.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// exitError carries an exit code up to main. Its message, if any, is printed
// as one line on stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// couldNotProbe is err, when not nil, with exit code 3.
func couldNotProbe(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitNoProbe, err: err}
}

// errCheckFailed is a check that failed, or a ping nothing answered: exit
// 1. The output says which; there is nothing more to print.
var errCheckFailed error = &exitError{code: exitCheckFail}

// signalError is a run a signal ended (the first of SIGINT, SIGTERM and
// SIGHUP; interrupt.go): exit 128 + the signal's number. The command has
// written what it knew; there is nothing more to print.
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return "interrupted by " + e.sig.String() }

// exitProcess ends the process; only a second interrupt calls it, from
// inside a command.
var exitProcess = os.Exit

func main() {
	ctx, stop := interruptContext(context.Background())
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err as one line and maps it to the process exit code.
func exitCode(err error, stderr io.Writer) int {
	code, msg := codeAndMessage(err)
	if msg != "" {
		fmt.Fprintf(stderr, "synprobe: %s\n", msg)
	}
	return code
}

// codeAndMessage is the exit code for err and its message as one line
// ("" when there is nothing to say).
//
// A command returns every failure it had, joined (errors.Join): a scan
// may lose a route, fail to write its output and be interrupted. The
// exit code is that of the first of these that applies, and the message
// says every failure, each once:
//
//  1. a signal (128 + its number): who sent it asked for the end, and
//     what follows from it (an output failing as the terminal closes, a
//     run cut short) is its consequence;
//  2. bad usage or input (2), the engine's probe.ErrConfig too: nothing
//     was done, whatever else is said;
//  3. could not probe, or not fully (3): the results are incomplete, so
//     they give no verdict;
//  4. a check failed, or ping got no answer (1): the verdict, what CI
//     acts on, is known for sure and holds whether or not a report of it
//     could be written; an output that failed too is still said;
//  5. an output could not be written (4): everything else went well.
//
// Any other error (cobra's, for an unknown command) is bad usage.
func codeAndMessage(err error) (int, string) {
	if err == nil {
		return exitOK, ""
	}
	return exitCodeOf(err), message(err)
}

func exitCodeOf(err error) int {
	var sig *signalError
	if errors.As(err, &sig) {
		return exitSignal + int(sig.sig)
	}
	codes := map[int]bool{}
	walkErrors(err, func(e error) {
		if ee, ok := e.(*exitError); ok {
			codes[ee.code] = true
		}
	})
	switch {
	case codes[exitUsage] || errors.Is(err, probe.ErrConfig):
		return exitUsage
	case codes[exitNoProbe]:
		return exitNoProbe
	case codes[exitCheckFail]:
		return exitCheckFail
	case errors.Is(err, results.ErrWrite):
		return exitOutput
	}
	for code := range codes { // lab exec's 127, say
		return code
	}
	return exitUsage
}

// walkErrors calls f with err and every error it wraps.
func walkErrors(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(e.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			walkErrors(x, f)
		}
	}
}

// message is err as one line: each failure errors.Join joined in it said
// once (an output's error comes back from every write after it), a
// signal's and a bare exit code's not at all, and a multi-line message
// (a YAML decoder's, say) folded.
func message(err error) string {
	var parts []string
	seen := map[string]bool{}
	var add func(error)
	add = func(err error) {
		switch e := err.(type) {
		case nil, *signalError:
			return
		case *exitError:
			add(e.err)
			return
		case interface{ Unwrap() []error }:
			if joined(err, e.Unwrap()) {
				for _, x := range e.Unwrap() {
					add(x)
				}
				return
			}
		}
		m := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
		if m != "" && !seen[m] {
			seen[m] = true
			parts = append(parts, m)
		}
	}
	add(err)
	return strings.Join(parts, "; ")
}

// joined reports whether err is errs as errors.Join joins them: its
// message theirs, one a line. (fmt.Errorf's with several %w is not: its
// message has words of its own.)
func joined(err error, errs []error) bool {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return err.Error() == strings.Join(msgs, "\n")
}

// run is the whole program, testable without a process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return execute(ctx, newGlobals(stderr), args, stdout, stderr)
}

// execute runs the command line with g. Standard output is a
// results.Sink: its first write error, whatever wrote (a command's
// results, its help, its version), is the command's, said once. With
// --log-format json the final error, too, is a JSON log line (with its
// exit code), and nothing else is printed for it.
func execute(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	g.stdout = results.NewSink("stdout", stdout)
	root := newRootCmdWith(g, g.stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if serr := g.stdout.Err(); serr != nil && !errors.Is(err, serr) {
		err = errors.Join(err, serr)
	}
	return g.finalError(err)
}

// finalError is err as main prints it: with --log-format json it is
// logged here, as a JSON line with its exit code, and what is returned
// has only the code.
func (g *globals) finalError(err error) error {
	if err == nil || g.logFormat != "json" {
		return err
	}
	code, msg := codeAndMessage(err)
	if msg != "" {
		// Not g.log: neither -q nor a failed setup may hide the error.
		log := zerolog.New(g.stderr).With().Timestamp().Logger()
		log.Error().Int("exit_code", code).Msg(msg)
	}
	return &exitError{code: code}
}
