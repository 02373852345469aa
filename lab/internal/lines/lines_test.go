package lines

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestKeepsTheLastLinesInOrder(t *testing.T) {
	for _, c := range []struct {
		max, n int
	}{{3, 0}, {3, 2}, {3, 3}, {3, 4}, {3, 10}, {1, 5}, {0, 4}} {
		b := New(c.max)
		var all []string
		for i := 0; i < c.n; i++ {
			all = append(all, fmt.Sprintf("line %d", i))
		}
		// Written in uneven pieces: lines are kept only once complete.
		text := strings.Join(all, "\n")
		if c.n > 0 {
			text += "\n"
		}
		for len(text) > 0 {
			k := min(len(text), 4)
			if _, err := b.Write([]byte(text[:k])); err != nil {
				t.Fatal(err)
			}
			text = text[k:]
		}
		want := all[max(0, len(all)-c.max):]
		if got := b.Lines(); !reflect.DeepEqual(got, append([]string{}, want...)) {
			t.Errorf("max %d after %d lines: got %q, want %q", c.max, c.n, got, want)
		}
	}
	b := New(2)
	_, _ = b.Write([]byte("a\nb\nunfinished"))
	if got := b.Lines(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("a partial line is kept: %q", got)
	}
}

// Writing to a full buffer must not cost a copy of every kept line.
func BenchmarkWriteFull(b *testing.B) {
	buf := New(10000)
	line := []byte("127.0.0.1 - - [01/Dec/2026:20:00:00 +0000] \"GET /orders HTTP/1.1\" 200 2 \"-\" \"vegeta\"\n")
	for i := 0; i < 20000; i++ {
		_, _ = buf.Write(line)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = buf.Write(line)
	}
}
