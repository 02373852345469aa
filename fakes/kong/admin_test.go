package kong

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	a, b := echoUpstream(t), echoUpstream(t)
	g := startGateway(t, serviceConfig(a.URL+"/a", ""))
	if e := decodeEcho(t, get(t, g.ProxyURL()+"/api").body); e.Path != "/a" {
		t.Fatalf("before reload: %q", e.Path)
	}
	err := g.reload(context.Background(), []byte(serviceConfig(b.URL+"/b", "read_timeout: soon")))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Errors[0].Path != "services[0].read_timeout" {
		t.Fatalf("Reload err = %v", err)
	}
	if e := decodeEcho(t, get(t, g.ProxyURL()+"/api").body); e.Path != "/a" {
		t.Fatalf("after failed reload: %q, want the old config", e.Path)
	}
	if err := g.reload(context.Background(), []byte(serviceConfig(b.URL+"/b", ""))); err != nil {
		t.Fatal(err)
	}
	if e := decodeEcho(t, get(t, g.ProxyURL()+"/api").body); e.Path != "/b" {
		t.Fatalf("after reload: %q", e.Path)
	}
}

func TestAdminPostConfig(t *testing.T) {
	a, b := echoUpstream(t), echoUpstream(t)
	g := startGateway(t, serviceConfig(a.URL+"/a", ""))

	// 400 with Kong's shape; the old config stays.
	res := do(t, "POST", g.AdminURL()+"/config", map[string]string{"Content-Type": "application/yaml"}, serviceConfig(b.URL, "retries: many"))
	if res.status != 400 {
		t.Fatalf("status %d %s", res.status, res.body)
	}
	var body map[string]any
	json.Unmarshal([]byte(res.body), &body)
	if body["code"] != 14.0 || body["name"] != "invalid declarative configuration" || !strings.HasPrefix(body["message"].(string), "declarative config is invalid: {services={{retries=") {
		t.Errorf("400 body %s", res.body)
	}
	if _, ok := body["flattened_errors"]; ok {
		t.Errorf("flattened_errors without ?flatten_errors=1 (real Kong has none): %s", res.body)
	}
	if e := decodeEcho(t, get(t, g.ProxyURL()+"/api").body); e.Path != "/a" {
		t.Fatalf("old config lost: %q", e.Path)
	}

	// multipart form config=@kong.yml, like curl -F config=@kong.yml
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("config", "kong.yml")
	fw.Write([]byte(serviceConfig(b.URL+"/b", "")))
	mw.Close()
	res = do(t, "POST", g.AdminURL()+"/config", map[string]string{"Content-Type": mw.FormDataContentType()}, buf.String())
	if res.status != 201 {
		t.Fatalf("multipart: %d %s", res.status, res.body)
	}
	if !strings.Contains(res.body, `"services":{`) {
		t.Errorf("201 body %s", res.body)
	}
	if e := decodeEcho(t, get(t, g.ProxyURL()+"/api").body); e.Path != "/b" {
		t.Fatalf("after POST /config: %q", e.Path)
	}
	// JSON body
	res = do(t, "POST", g.AdminURL()+"/config", map[string]string{"Content-Type": "application/json"},
		`{"_format_version":"3.0","services":[{"name":"j","url":"`+a.URL+`/j","routes":[{"paths":["/api"]}]}]}`)
	if res.status != 201 {
		t.Fatalf("json: %d %s", res.status, res.body)
	}
	if e := decodeEcho(t, get(t, g.ProxyURL()+"/api").body); e.Path != "/j" {
		t.Fatalf("after JSON POST /config: %q", e.Path)
	}
	if res := do(t, "POST", g.AdminURL()+"/config", nil, ""); res.status != 400 || !strings.Contains(res.body, "expected a declarative configuration") {
		t.Errorf("empty body: %d %s", res.status, res.body)
	}
}

func TestAdminReadEndpoints(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, serviceConfig(up.URL, "read_timeout: 1500"))
	res := get(t, g.AdminURL()+"/")
	var root map[string]any
	json.Unmarshal([]byte(res.body), &root)
	if res.status != 200 || root["version"] != "3.9.1" || root["configuration"].(map[string]any)["database"] != "off" {
		t.Errorf("GET /: %d %s", res.status, res.body)
	}
	if res.header.Get("Server") != "kong/3.9.1" || res.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("admin headers %v", res.header)
	}
	res = get(t, g.AdminURL()+"/services")
	var list struct {
		Data []map[string]any `json:"data"`
		Next any              `json:"next"`
	}
	json.Unmarshal([]byte(res.body), &list)
	if len(list.Data) != 1 || list.Data[0]["name"] != "svc" || list.Data[0]["read_timeout"] != 1500.0 || list.Data[0]["retries"] != 5.0 {
		t.Errorf("GET /services: %s", res.body)
	}
	if res := get(t, g.AdminURL()+"/services/svc"); res.status != 200 || !strings.Contains(res.body, `"read_timeout":1500`) {
		t.Errorf("GET /services/svc: %d %s", res.status, res.body)
	}
	if res := get(t, g.AdminURL()+"/routes"); res.status != 200 || !strings.Contains(res.body, `"paths":["/api"]`) {
		t.Errorf("GET /routes: %s", res.body)
	}
	res = get(t, g.AdminURL()+"/status")
	if res.status != 200 || !strings.Contains(res.body, `"configuration_hash":"`+g.current().Hash+`"`) || strings.Contains(res.body, `"database"`) {
		t.Errorf("GET /status: %s", res.body)
	}
	if res := get(t, g.AdminURL()+"/nothing"); res.status != 404 || res.body != `{"message":"Not found"}` {
		t.Errorf("unknown path: %d %s", res.status, res.body)
	}
	if res := do(t, "DELETE", g.AdminURL()+"/", nil, ""); res.status != 405 {
		t.Errorf("DELETE /: %d", res.status)
	}
	if res := do(t, "PATCH", g.AdminURL()+"/services/svc", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "read_timeout=15000"); res.status != 405 ||
		res.body != `{"code":12,"message":"cannot update 'services' entities by 'name' when not using a database","name":"operation unsupported"}` {
		t.Errorf("PATCH in DB-less: %d %s", res.status, res.body)
	}
}

// The Admin API answers loopback clients only, unless the lab allows others
// (a container on a bridge network).
func TestAdminRefusesNonLoopbackClients(t *testing.T) {
	for _, allow := range []bool{false, true} {
		g := startGateway(t, serviceConfig("http://127.0.0.1:1", ""), func(o *Options) { o.AllowNonLoopback = allow })
		for remote, local := range map[string]bool{"127.0.0.1:40000": true, "[::1]:40000": true, "192.0.2.7:40000": false, "[::ffff:10.1.2.3]:1": false} {
			r := httptest.NewRequest(http.MethodGet, "/status", nil)
			r.RemoteAddr = remote
			w := httptest.NewRecorder()
			g.serveAdmin(w, r)
			if want := local || allow; (w.Code == http.StatusOK) != want {
				t.Errorf("allow=%v, client %s: got %d %s", allow, remote, w.Code, w.Body.String())
			}
			if w.Code == http.StatusForbidden && !strings.Contains(w.Body.String(), "loopback clients only") {
				t.Errorf("a refusal must say why: %s", w.Body.String())
			}
		}
	}
}
