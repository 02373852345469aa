package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientRoundTripAndErrors(t *testing.T) {
	type doc struct {
		A int `json:"a"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d doc
		if err := DecodeStrict(r.Body, &d); err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		d.A++
		WriteJSON(w, http.StatusOK, d)
	}))
	defer srv.Close()
	c := Client{Name: "x", Base: srv.URL}
	var out doc
	if err := c.Do(context.Background(), http.MethodPut, "/__chaoslab/x", doc{A: 1}, &out); err != nil || out.A != 2 {
		t.Fatalf("%v %+v", err, out)
	}
	err := c.Do(context.Background(), http.MethodPut, "/__chaoslab/x", map[string]int{"b": 1}, &out)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") || !strings.Contains(err.Error(), `unknown field \"b\"`) {
		t.Fatalf("unknown field: %v", err)
	}
}
