package realkong

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// maxLines bounds what a tailer keeps (the oldest lines go first), like the
// emulation's in-memory logs.
const maxLines = 100_000

// tailer reads a log file incrementally: each Lines call reads what was
// appended since the last one. nginx writes whole lines with one write(2),
// so a partial last line only means the read raced a write; it is kept for
// the next call.
type tailer struct {
	path string

	mu      sync.Mutex
	off     int64
	partial []byte
	lines   []string
}

func (t *tailer) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, err := os.Open(t.path); err == nil {
		if _, err := f.Seek(t.off, io.SeekStart); err == nil {
			b, _ := io.ReadAll(f)
			t.off += int64(len(b))
			t.add(b)
		}
		f.Close()
	}
	return append([]string(nil), t.lines...)
}

func (t *tailer) add(b []byte) {
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	if over := len(t.lines) - maxLines; over > 0 {
		t.lines = append([]string(nil), t.lines[over:]...)
	}
}

// lineWriter collects nginx's own stdout/stderr (messages before the error
// log is open, e.g. a bind failure).
type lineWriter struct {
	mu sync.Mutex
	t  tailer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.add(p)
	return len(p), nil
}

func (w *lineWriter) Lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.t.lines...)
}
