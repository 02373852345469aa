package kong

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzAdminConfigPost sends arbitrary bodies under arbitrary content types to
// POST /config, the way `curl -F config=@kong.yml` or a trainee's hand-made
// request would. Properties: no panic; the answer is 201, 400 or 415, and a
// 400 is Kong's JSON with a message; the Admin API still answers /status.
func FuzzAdminConfigPost(f *testing.F) {
	valid := serviceConfig("http://127.0.0.1:1", "")
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("config", "kong.yml")
	fw.Write([]byte(valid))
	mw.Close()
	for _, seed := range []struct{ body, ct string }{
		{valid, "text/yaml"}, {valid, "application/x-yaml"}, {`{"config":` + mustJSONString(valid) + `}`, "application/json"},
		{"config=" + valid, "application/x-www-form-urlencoded"}, {form.String(), mw.FormDataContentType()},
		{"", "application/json"}, {"_format_version: '3.0'\nservices: [{name: x}]\n", "text/yaml"},
		{"services: []", "text/plain"}, {"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"}, {"{", "application/json"},
	} {
		f.Add([]byte(seed.body), seed.ct)
	}
	g := startGateway(f, valid)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/config", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		g.serveAdmin(w, r)
		switch w.Code {
		case http.StatusCreated, http.StatusUnsupportedMediaType:
		case http.StatusBadRequest:
			var answer struct{ Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || answer.Message == "" {
				t.Fatalf("400 without Kong's JSON message for %q (%s): %s", body, contentType, w.Body.String())
			}
		default:
			t.Fatalf("POST /config %q (%s): %d %s", body, contentType, w.Code, w.Body.String())
		}
		st, get := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/status", nil)
		get.RemoteAddr = "127.0.0.1:40000"
		g.serveAdmin(st, get)
		if st.Code != http.StatusOK {
			t.Fatalf("after POST /config %q the Admin API answers /status %d", body, st.Code)
		}
	})
}

func mustJSONString(s string) string { b, _ := json.Marshal(s); return string(b) }
