package docker

import (
	"net"
	"net/url"
	"strconv"

	"gopkg.in/yaml.v3"
)

// rewriteKongConfig points a kong.yml written for the host's view (services
// and targets at 127.0.0.1:<published port>, or at a name GatewayOptions.Hosts
// maps to 127.0.0.1) at the run's containers by alias, for a gateway on a
// bridge network. It touches three shapes: a mapping with host and port (a
// service), a url, and a target "host:port". Anything else is left as is.
func rewriteKongConfig(in []byte, hosts map[string]string, addrs *addrMap) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(in, &doc); err != nil {
		return nil, err
	}
	loopback := func(h string) bool {
		if ip, ok := hosts[h]; ok {
			h = ip
		}
		return h == "127.0.0.1" || h == "localhost"
	}
	inner := func(host, port string) (string, string, bool) {
		if !loopback(host) {
			return "", "", false
		}
		in, ok := addrs.inner("127.0.0.1:" + port)
		if !ok {
			return "", "", false
		}
		h, p, err := net.SplitHostPort(in)
		return h, p, err == nil
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			var host, port *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch {
				case k == "host" && v.Kind == yaml.ScalarNode:
					host = v
				case k == "port" && v.Kind == yaml.ScalarNode:
					port = v
				case k == "url" && v.Kind == yaml.ScalarNode:
					if u, err := url.Parse(v.Value); err == nil && u.Port() != "" {
						if h, p, ok := inner(u.Hostname(), u.Port()); ok {
							u.Host = net.JoinHostPort(h, p)
							v.Value = u.String()
						}
					}
				case k == "target" && v.Kind == yaml.ScalarNode:
					if h, p, err := net.SplitHostPort(v.Value); err == nil {
						if ih, ip, ok := inner(h, p); ok {
							v.Value = net.JoinHostPort(ih, ip)
						}
					}
				}
			}
			if host != nil && port != nil {
				if h, p, ok := inner(host.Value, port.Value); ok {
					host.Value = h
					if _, err := strconv.Atoi(p); err == nil {
						port.Value, port.Tag, port.Style = p, "!!int", 0
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return yaml.Marshal(&doc)
}
