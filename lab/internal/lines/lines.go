// Package lines keeps the last lines written to an io.Writer: a component's
// stdout or stderr, in process or from a container's log stream.
package lines

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer that keeps the last max complete lines written to
// it; it stands in for a container's log stream on the embedded backend.
type Buffer struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
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
		b.lines = append(b.lines, string(b.partial[:i]))
		b.partial = b.partial[i+1:]
	}
	if over := len(b.lines) - b.max; over > 0 {
		b.lines = append([]string(nil), b.lines[over:]...)
	}
	return len(p), nil
}

// Lines are the complete lines kept, oldest first.
func (b *Buffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}
