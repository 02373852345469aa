package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/lab/internal/realkong"
)

// KindEmulationNoKong is the gateway kind the docker backend reports when it
// runs the emulation because the Kong image is not on this machine.
const KindEmulationNoKong = "emulation (kong image not available)"

// kongConfigInContainer is where the declarative config is mounted, as in
// Kong's own docs for DB-less mode.
const kongConfigInContainer = "/kong/kong.yml"

// Kong's ports inside the container in bridge mode (its defaults).
const (
	kongProxyPort = 8000
	kongAdminPort = 8001
)

// StartGateway runs real Kong, DB-less, when its image is on this machine
// (nothing is pulled: `docker pull kong:3.9` first), else the gateway
// emulation from the chaoslab image. Both are driven through the same admin
// API; kind says which ran, for the report.
func (d *docker) StartGateway(ctx context.Context, configPath string, o lab.GatewayOptions) (lab.Service, string, error) {
	if d.net.mode == netBridge {
		p, err := d.bridgeKongConfig(configPath, o)
		if err != nil {
			return nil, "", err
		}
		configPath = p
	}
	kind := d.kong
	var (
		s   *dockerService
		err error
	)
	switch {
	case o.Selected() == "emulation":
		kind = "emulation"
		s, err = d.startEmulation(ctx, configPath, o)
	case d.kong == "" && o.Selected() == "kong":
		return nil, "", fmt.Errorf("no Kong image here (kong:3.9, CHAOSLAB_KONG_IMAGE or chaoslab/kong:3.9.1-local): %w", lab.ErrRealKongNotBuilt)
	case d.kong == "":
		kind = KindEmulationNoKong
		s, err = d.startEmulation(ctx, configPath, o)
	default:
		s, err = d.startKong(ctx, configPath, o)
	}
	if err != nil || d.net.mode != netBridge {
		return s, kind, err
	}
	t, err := newAdminTranslator(s.Info()["admin"], o.Hosts, d.net.addrs)
	if err != nil {
		_ = s.Close()
		return nil, "", err
	}
	s.fixedInfo = map[string]string{"admin": t.URL()}
	s.closers = append(s.closers, t.Close)
	return s, kind, nil
}

func (d *docker) startEmulation(ctx context.Context, configPath string, o lab.GatewayOptions) (*dockerService, error) {
	o.TrustedIPs = d.net.trustedIPs(o.TrustedIPs)
	args := o.EmulationConfig(configPath).Args()
	if d.net.mode == netBridge {
		// Upstreams are other containers, reached by alias.
		args = append(args, "--allow-non-loopback")
	}
	spec := d.chaoslabSpec("gateway", append([]string{"gateway"}, args...))
	// The admin URL is read right after start: wait for its line too.
	spec.ready = func(ctx context.Context, s *dockerService, t wait.StrategyTarget) (bool, error) {
		ok, err := listeningReady(ctx, s, t)
		return ok && s.Info()["admin"] != "", err
	}
	return d.start(ctx, spec)
}

func (d *docker) startKong(ctx context.Context, configPath string, o lab.GatewayOptions) (*dockerService, error) {
	var lastErr error
	for try := 0; try < 3; try++ { // free ports can be taken before Kong binds them
		proxy, admin, err := d.kongPorts()
		if err != nil {
			return nil, err
		}
		spec := d.kongSpec(configPath, o, proxy, admin)
		var proxyURL, adminURL string
		spec.ready = func(ctx context.Context, s *dockerService, t wait.StrategyTarget) (bool, error) {
			proxyURL, adminURL = kongURLs(ctx, d.net.mode, t, proxy, admin)
			return adminURL != "" && httpOK(ctx, adminURL+"/status"), nil
		}
		s, err := d.start(ctx, spec)
		if err == nil {
			s.url = proxyURL
			s.fixedInfo = map[string]string{"admin": adminURL}
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("kong: %w", lastErr)
}

// kongPorts: free loopback ports in host mode, Kong's defaults in bridge mode.
func (d *docker) kongPorts() (proxy, admin int, err error) {
	if d.net.mode == netBridge {
		return kongProxyPort, kongAdminPort, nil
	}
	if proxy, err = freeLoopbackPort(); err != nil {
		return 0, 0, err
	}
	admin, err = freeLoopbackPort()
	return proxy, admin, err
}

// kongURLs are the proxy and admin URLs as the host reaches them.
func kongURLs(ctx context.Context, mode dockerNetMode, t wait.StrategyTarget, proxy, admin int) (string, string) {
	if mode == netHost {
		return "http://127.0.0.1:" + strconv.Itoa(proxy), "http://127.0.0.1:" + strconv.Itoa(admin)
	}
	pp, err1 := t.MappedPort(ctx, "8000/tcp")
	ap, err2 := t.MappedPort(ctx, "8001/tcp")
	if err1 != nil || err2 != nil {
		return "", ""
	}
	return "http://127.0.0.1:" + pp.Port(), "http://127.0.0.1:" + ap.Port()
}

// kongSpec is the Kong container: DB-less with the lab's kong.yml mounted
// read-only, the proxy's access log on stdout and its error log on stderr
// (what Gateway.AccessLog/ErrorLog read), listeners on 127.0.0.1 in host
// mode, names from GatewayOptions.Hosts in /etc/hosts.
func (d *docker) kongSpec(configPath string, o lab.GatewayOptions, proxy, admin int) containerSpec {
	host := "127.0.0.1"
	if d.net.mode == netBridge {
		host = "0.0.0.0"
	}
	env := map[string]string{
		"KONG_DATABASE":           "off",
		"KONG_DECLARATIVE_CONFIG": kongConfigInContainer,
		"KONG_PROXY_LISTEN":       host + ":" + strconv.Itoa(proxy),
		"KONG_ADMIN_LISTEN":       host + ":" + strconv.Itoa(admin),
		// Kong's kong_log_format plus $upstream_status, as on the host process.
		"KONG_PROXY_ACCESS_LOG":      "/dev/stdout chaoslab",
		"KONG_NGINX_HTTP_LOG_FORMAT": realkong.AccessLogFormat,
		"KONG_PROXY_ERROR_LOG":       "/dev/stderr",
		// One worker: health-check and retry behaviour is the same as the
		// emulation's, and a 2-core machine has no core to spare.
		"KONG_NGINX_WORKER_PROCESSES": "1",
	}
	if o.DNS != "" {
		env["KONG_DNS_RESOLVER"] = o.DNS
	}
	if t := d.net.trustedIPs(o.TrustedIPs); t != "" {
		env["KONG_TRUSTED_IPS"] = t
	}
	if v := os.Getenv("CHAOSLAB_KONG_HEADERS"); v != "" {
		env["KONG_HEADERS"] = v
	}
	names := make([]string, 0, len(o.Hosts))
	for n := range o.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	var hosts []string
	for _, n := range names {
		hosts = append(hosts, n+":"+o.Hosts[n])
	}
	spec := containerSpec{
		component: "kong",
		image:     d.kong,
		env:       env,
		binds:     []string{configPath + ":" + kongConfigInContainer + ":ro"},
		hosts:     hosts,
		timeout:   2 * time.Minute,
	}
	if d.net.mode == netBridge {
		spec.publish = []int{kongProxyPort, kongAdminPort}
	}
	return spec
}

// bridgeKongConfig writes a copy of kong.yml whose services and targets at
// published loopback addresses of the run's containers point at their
// aliases instead (see rewriteKongConfig).
func (d *docker) bridgeKongConfig(configPath string, o lab.GatewayOptions) (string, error) {
	b, err := os.ReadFile(configPath)
	if err != nil {
		return "", err
	}
	out, err := rewriteKongConfig(b, o.Hosts, d.net.addrs)
	if err != nil {
		return "", fmt.Errorf("kong.yml for bridge networking: %w", err)
	}
	p := filepath.Join(filepath.Dir(configPath), "kong.bridge.yml")
	return p, os.WriteFile(p, out, 0o644)
}
