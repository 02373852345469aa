package main

import (
	"context"
	"strings"
	"testing"
)

// cleanup succeeds with or without a daemon and says what it did.
func TestCleanupCommand(t *testing.T) {
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"cleanup"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	if s := out.String(); !strings.HasPrefix(s, "nothing to clean up") && !strings.HasPrefix(s, "removed ") {
		t.Fatalf("output %q", s)
	}
	if code := run(context.Background(), []string{"cleanup", "--bogus"}, &out, &errb); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}
