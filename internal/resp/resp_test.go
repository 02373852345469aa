package resp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// server answers each command with the next canned reply and records what
// it was sent.
func server(t *testing.T, replies ...string) (addr string, sent func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		var b strings.Builder
		r := bufio.NewReader(c)
		for _, rep := range replies {
			// One command: *N, then N bulk strings.
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			b.WriteString(line)
			var n int
			for _, ch := range strings.TrimSpace(line[1:]) {
				n = n*10 + int(ch-'0')
			}
			for i := 0; i < 2*n; i++ {
				l, _ := r.ReadString('\n')
				b.WriteString(l)
			}
			io.WriteString(c, rep)
		}
		got <- b.String()
	}()
	return ln.Addr().String(), func() string { return <-got }
}

func TestRepliesAndWireFormat(t *testing.T) {
	addr, sent := server(t, "+OK\r\n", ":-3\r\n", "$5\r\nhe\r\nl\r\n", "$-1\r\n", "*2\r\n:1\r\n$1\r\nx\r\n", "-NOSCRIPT no\r\n")
	c, err := Dial(context.Background(), addr, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, want := range []any{"OK", int64(-3), "he\r\nl", nil, []any{int64(1), "x"}} {
		got, err := c.Do("eval", "return 1", "0")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v %v, want %#v", got, err, want)
		}
	}
	if _, err := c.Do("x"); !errors.As(err, new(Error)) || err.Error() != "redis: NOSCRIPT no" {
		t.Fatalf("error reply: %v", err)
	}
	c.Close()
	if s := sent(); !strings.HasPrefix(s, "*3\r\n$4\r\neval\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n") {
		t.Fatalf("wire: %q", s)
	}
}

func TestMalformedReply(t *testing.T) {
	addr, _ := server(t, "?what\r\n")
	c, err := Dial(context.Background(), addr, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do("PING"); err == nil || !strings.Contains(err.Error(), "unknown reply type") {
		t.Fatalf("got %v", err)
	}
}
