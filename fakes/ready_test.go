package fakes

import (
	"reflect"
	"testing"
)

func TestReadyLineRoundTrip(t *testing.T) {
	want := Ready{URL: "https://127.0.0.1:4443", Info: map[string]string{"ca": "/tmp/lab/ca.pem", "client-cert": "/tmp/lab/c.pem"}}
	lines := []string{"listening on https://127.0.0.1:4443", want.String(), "GET / 200"}
	got, ok, err := ParseReady(lines)
	if !ok || err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseReady(%q) = %+v, %v, %v; want %+v", lines, got, ok, err, want)
	}
	if _, ok, err := ParseReady(lines[:1]); ok || err != nil {
		t.Fatalf("before the ready line: ok %v err %v", ok, err)
	}
	if _, _, err := ParseReady([]string{"ready: {not json"}); err == nil {
		t.Fatal("a broken ready line must be an error")
	}
}
