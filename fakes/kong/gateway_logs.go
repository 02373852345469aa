package kong

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logCap bounds the in-memory logs so a long load test cannot exhaust
// memory; the oldest lines go first. Extra sinks (Options.ErrorLog,
// AccessLog) see every line.
const logCap = 100_000

// errorLog keeps nginx-format error.log lines.
type errorLog struct {
	mu    sync.Mutex
	lines []string
	sink  io.Writer
	pid   int
}

func newErrorLog(sink io.Writer) *errorLog {
	return &errorLog{sink: sink, pid: os.Getpid()}
}

// requestInfo is what nginx appends to an error line about a request.
type requestInfo struct {
	connID    uint64
	client    string
	request   string // "GET /x HTTP/1.1"
	upstream  string // "http://127.0.0.1:9/x", "" when none
	host      string
	requestID string
}

// logf writes "2026/11/23 21:00:00 [error] 1234#0: *5 <msg>, client: ...".
func (l *errorLog) log(level string, ri *requestInfo, msg string) {
	var b strings.Builder
	b.Grow(256)
	b.WriteString(time.Now().Format("2006/01/02 15:04:05"))
	b.WriteString(" [" + level + "] ")
	b.WriteString(strconv.Itoa(l.pid))
	b.WriteString("#0: ")
	if ri != nil {
		b.WriteString("*" + strconv.FormatUint(ri.connID, 10) + " ")
	}
	b.WriteString(msg)
	if ri != nil {
		b.WriteString(", client: " + ri.client + ", server: kong, request: \"" + ri.request + "\"")
		if ri.upstream != "" {
			b.WriteString(", upstream: \"" + ri.upstream + "\"")
		}
		if ri.host != "" {
			b.WriteString(", host: \"" + ri.host + "\"")
		}
		b.WriteString(", request_id: \"" + ri.requestID + "\"")
	}
	line := b.String()
	l.mu.Lock()
	l.lines = append(l.lines, line)
	if len(l.lines) > logCap {
		l.lines = append(l.lines[:0:0], l.lines[len(l.lines)-logCap/2:]...)
	}
	if l.sink != nil {
		io.WriteString(l.sink, line+"\n")
	}
	l.mu.Unlock()
}

func (l *errorLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// accessEntry is one proxied (or Kong-answered) request.
type accessEntry struct {
	Time      time.Time
	RequestID string
	Client    string // client IP
	Method    string
	Path      string // request URI as received
	Proto     string
	Host      string
	UserAgent string
	Referer   string
	Status    int
	// UpstreamStatus is nginx's $upstream_status: one status per try,
	// "504, 504, 502"; "" when Kong answered without proxying.
	UpstreamStatus string
	// UpstreamStatuses is the same as numbers (502/504 for failed tries).
	UpstreamStatuses []int
	Tries            int
	Route, Service   string // names, or ids when unnamed; "" when no route matched
	Consumer         string
	BytesSent        int64
	// Latencies in milliseconds, as Kong reports them: Kong is the time
	// spent in the gateway (routing, plugins, retries' overhead), Upstream
	// the last try's wait for response headers, Request the whole request.
	KongLatency, UpstreamLatency, RequestLatency int64
}

// String renders Kong's access.log line (nginx kong_log_format), followed by
// the upstream status and latencies the lab asserts on.
func (e accessEntry) String() string {
	ref, ua := e.Referer, e.UserAgent
	if ref == "" {
		ref = "-"
	}
	if ua == "" {
		ua = "-"
	}
	us := e.UpstreamStatus
	if us == "" {
		us = "-"
	}
	return fmt.Sprintf(`%s - - [%s] "%s %s %s" %d %d "%s" "%s" kong_request_id: "%s" upstream_status: "%s" kong_latency: %d upstream_latency: %d request_latency: %d`,
		e.Client, e.Time.Format("02/Jan/2006:15:04:05 -0700"), e.Method, e.Path, e.Proto, e.Status, e.BytesSent,
		ref, ua, e.RequestID, us, e.KongLatency, e.UpstreamLatency, e.RequestLatency)
}

// accessLog keeps entries in fixed-size chunks: appending never copies
// old entries, and the oldest chunk is dropped past logCap.
type accessLog struct {
	mu     sync.Mutex
	chunks [][]accessEntry
	n      int
	sink   io.Writer
}

const accessChunk = 4096

func (l *accessLog) add(e accessEntry) {
	l.mu.Lock()
	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == accessChunk {
		l.chunks = append(l.chunks, make([]accessEntry, 0, accessChunk))
	}
	last := len(l.chunks) - 1
	l.chunks[last] = append(l.chunks[last], e)
	l.n++
	if l.n > logCap {
		l.n -= len(l.chunks[0])
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
	}
	if l.sink != nil {
		io.WriteString(l.sink, e.String()+"\n")
	}
	l.mu.Unlock()
}

func (l *accessLog) snapshot() []accessEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]accessEntry, 0, l.n)
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}
