package docker

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Bridge mode without a daemon: the toxiproxy API translator gives a new
// proxy a published pool port and its upstream's alias, and hands the lab
// the published loopback address back.
func TestToxiTranslatorMapsListenAndUpstream(t *testing.T) {
	var got map[string]any
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		got["listen"] = "[::]:20000" // what toxiproxy reports after binding 0.0.0.0:20000
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(got)
	}))
	defer fake.Close()
	m := newAddrMap()
	m.add("127.0.0.1:32770", "upstream-1:10000")
	tr, err := newToxiTranslator(fake.URL, "toxiproxy-2", outerReplacer(map[int]int{20000: 40000}), m)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Post(tr.URL()+"/proxies", "application/json", strings.NewReader(`{"name":"api","listen":"127.0.0.1:0","upstream":"127.0.0.1:32770","enabled":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var back map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&back)
	if got["listen"] != "[::]:20000" || got["upstream"] != "upstream-1:10000" {
		t.Errorf("toxiproxy got %v", got)
	}
	if resp.StatusCode != http.StatusCreated || back["listen"] != "127.0.0.1:40000" || back["upstream"] != "127.0.0.1:32770" {
		t.Errorf("lab got %d %v", resp.StatusCode, back)
	}
	if in, ok := m.inner("127.0.0.1:40000"); !ok || in != "toxiproxy-2:20000" {
		t.Errorf("proxy address not recorded for kong.yml rewrites: %q %v", in, ok)
	}
}

// Gateway.Reload's multipart kong.yml is rewritten to aliases on its way to
// a bridge-networked gateway's admin API.
func TestAdminTranslatorRewritesReloadedConfig(t *testing.T) {
	var config string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		p, err := multipart.NewReader(r.Body, params["boundary"]).NextPart()
		if err == nil {
			b, _ := io.ReadAll(p)
			config = string(b)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer fake.Close()
	m := newAddrMap()
	m.add("127.0.0.1:40000", "toxiproxy-2:20000")
	tr, err := newAdminTranslator(fake.URL, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("config", "kong.yml")
	_, _ = io.WriteString(fw, "_format_version: \"3.0\"\nservices:\n- name: a\n  url: http://127.0.0.1:40000\n")
	_ = mw.Close()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Post(tr.URL()+"/config", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(config, "url: http://toxiproxy-2:20000") {
		t.Fatalf("%d, gateway got config:\n%s", resp.StatusCode, config)
	}
}
