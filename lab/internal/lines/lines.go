// Package lines keeps the last lines written to an io.Writer: a component's
// stdout or stderr, in process or from a container's log stream.
package lines

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer that keeps the last max complete lines written to
// it; it stands in for a container's log stream on the embedded backend.
//
// The lines are a ring: once full, a new line overwrites the oldest in
// place. (Trimming by copying the kept lines cost a copy of all max of them
// per line once full: at 1,000 access-log lines/s through the gateway that
// was 10 million string copies a second under the gateway's log lock, and
// a soak's handlers queued on it by the thousand.)
type Buffer struct {
	mu      sync.Mutex
	partial []byte
	ring    []string // len <= max; once full, ring[start] is the oldest line
	start   int
	max     int
}

// New is a Buffer of the last max lines.
func New(max int) *Buffer { return &Buffer{max: max} }

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.add(string(b.partial[:i]))
		b.partial = b.partial[i+1:]
	}
	return len(p), nil
}

func (b *Buffer) add(line string) {
	switch {
	case b.max <= 0:
	case len(b.ring) < b.max:
		b.ring = append(b.ring, line)
	default:
		b.ring[b.start] = line
		b.start = (b.start + 1) % b.max
	}
}

// Lines are the complete lines kept, oldest first.
func (b *Buffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.ring))
	out = append(out, b.ring[b.start:]...)
	return append(out, b.ring[:b.start]...)
}
