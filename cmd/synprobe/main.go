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

	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in the README.
const (
	exitOK        = 0
	exitCheckFail = 1
	exitUsage     = 2
	exitNoProbe   = 3
	exitInterrupt = 130
)

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

// exitProcess ends the process; only a second Ctrl-C calls it, from
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
func codeAndMessage(err error) (int, string) {
	if err == nil {
		return exitOK, ""
	}
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code, ""
		}
	}
	// One line, always: multi-line messages (a YAML decoder's, say) are
	// folded.
	return code, strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// run is the whole program, testable without a process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return execute(ctx, newGlobals(stderr), args, stdout, stderr)
}

// execute runs the command line with g. With --log-format json the final
// error, too, is a JSON log line (with its exit code), and nothing else
// is printed for it.
func execute(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	root := newRootCmdWith(g, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil || g.logFormat != "json" {
		return err
	}
	code, msg := codeAndMessage(err)
	if msg != "" {
		// Not g.log: neither -q nor a failed setup may hide the error.
		log := zerolog.New(stderr).With().Timestamp().Logger()
		log.Error().Int("exit_code", code).Msg(msg)
	}
	return &exitError{code: code}
}
