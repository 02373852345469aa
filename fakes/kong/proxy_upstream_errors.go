package kong

import (
	"errors"
	"io"
	"net"
	"syscall"
)

var (
	errConnRefused = syscall.ECONNREFUSED
	errHostUnreach = syscall.EHOSTUNREACH
	errNetUnreach  = syscall.ENETUNREACH
)

func isErrno(err error, no syscall.Errno) bool { return errors.Is(err, no) }

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// tryFailure is one failed try, as nginx sees it.
type tryFailure struct {
	// line is nginx's error.log text, e.g. "upstream timed out (110:
	// Connection timed out) while reading response header from upstream".
	line string
	// status is what the client gets if this was the last try: 504 for a
	// timeout, 502 for everything else.
	status int
	// sent tells whether the request had been sent: then POST, PATCH and
	// LOCK are not retried (nginx's non_idempotent rule).
	sent    bool
	timeout bool
	tcp     bool // a connect failure (passive health: tcp_failures)
}

// classifyTry maps a RoundTrip error to nginx's view of it (the table in
// facts/kong.md).
func classifyTry(err error) tryFailure {
	var ce *connectError
	if errors.As(err, &ce) {
		f := tryFailure{line: ce.Error(), status: 502, timeout: ce.timeout, tcp: true}
		if ce.timeout {
			f.status = 504
		}
		return f
	}
	var se *sendError
	if errors.As(err, &se) {
		switch {
		case isTimeout(se.err):
			return tryFailure{line: "upstream timed out (110: Connection timed out) while sending request to upstream", status: 504, sent: true, timeout: true}
		case isReset(se.err):
			return tryFailure{line: "writev() failed (104: Connection reset by peer) while sending request to upstream", status: 502, sent: true}
		default:
			return tryFailure{line: "writev() failed (32: Broken pipe) while sending request to upstream", status: 502, sent: true}
		}
	}
	switch {
	case isTimeout(err):
		return tryFailure{line: "upstream timed out (110: Connection timed out) while reading response header from upstream", status: 504, sent: true, timeout: true}
	case isReset(err):
		return tryFailure{line: "recv() failed (104: Connection reset by peer) while reading response header from upstream", status: 502, sent: true}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return tryFailure{line: "upstream prematurely closed connection while reading response header from upstream", status: 502, sent: true}
	}
	return tryFailure{line: "upstream sent no valid HTTP/1.0 header while reading response header from upstream", status: 502, sent: true}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// nonIdempotent are the methods nginx does not retry once sent.
func nonIdempotent(method string) bool {
	return method == "POST" || method == "PATCH" || method == "LOCK"
}
