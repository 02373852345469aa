package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"
)

// Bridge mode: toxiproxy's API and a pool of proxy ports are published; the
// lab's "listen 127.0.0.1:0" is given the next pool port (see toxiTranslator).
const (
	toxiAPIPort       = 8474
	toxiFirstPoolPort = 20000
	toxiPoolSize      = 32
)

// Toxiproxy runs toxiproxy's real server (built from the version go.mod pins)
// and returns its API URL. In host mode the API binds 127.0.0.1 on a free
// port and proxies listen on 127.0.0.1 as on the embedded backend; in bridge
// mode the URL is a translator in this process (see toxiTranslator).
func (d *docker) Toxiproxy(ctx context.Context) (string, error) {
	d.toxiMu.Lock()
	defer d.toxiMu.Unlock()
	if d.toxiURL != "" {
		return d.toxiURL, nil
	}
	ref, err := toxiproxyImage(ctx, d.cli, d.lab.Dir())
	if err != nil {
		return "", err
	}
	s, api, err := d.startToxiproxy(ctx, ref)
	if err != nil {
		return "", err
	}
	if d.net.mode == netBridge {
		t, err := newToxiTranslator(api, aliasOf(s.name), s.outer, d.net.addrs)
		if err != nil {
			return "", err
		}
		d.mu.Lock()
		d.toxiBridge = t
		d.mu.Unlock()
		api = t.URL()
	}
	d.toxiURL = api
	return api, nil
}

func (d *docker) startToxiproxy(ctx context.Context, ref string) (*dockerService, string, error) {
	var lastErr error
	// A free port picked here can be taken before toxiproxy binds it; a
	// second pick makes that race harmless.
	for try := 0; try < 3; try++ {
		spec := containerSpec{component: "toxiproxy", image: ref, timeout: 30 * time.Second}
		spec.user = d.chaoslabSpec("", nil).user
		var api string
		if d.net.mode == netHost {
			port, err := freeLoopbackPort()
			if err != nil {
				return nil, "", err
			}
			spec.cmd = []string{"-host", "127.0.0.1", "-port", strconv.Itoa(port)}
			api = "http://127.0.0.1:" + strconv.Itoa(port)
		} else {
			spec.cmd = []string{"-host", "0.0.0.0", "-port", strconv.Itoa(toxiAPIPort)}
			spec.publish = []int{toxiAPIPort}
			for i := 0; i < toxiPoolSize; i++ {
				spec.publish = append(spec.publish, toxiFirstPoolPort+i)
			}
		}
		spec.ready = func(ctx context.Context, s *dockerService, t wait.StrategyTarget) (bool, error) {
			u := api
			if u == "" { // bridge: the published port is known once started
				mp, err := t.MappedPort(ctx, "8474/tcp")
				if err != nil {
					return false, nil
				}
				u = "http://127.0.0.1:" + mp.Port()
			}
			return httpOK(ctx, u+"/version"), nil
		}
		s, err := d.start(ctx, spec)
		if err == nil {
			if api == "" {
				api = s.outer.Replace("http://0.0.0.0:" + strconv.Itoa(toxiAPIPort))
			}
			s.url = api
			return s, api, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, "", fmt.Errorf("toxiproxy: %w", lastErr)
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// httpOK is one readiness probe: GET url answered 200 within a second.
func httpOK(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
