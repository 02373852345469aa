package scenarios

import "github.com/chaoslab/chaoslab/lab"

func init() {
	Register(Scenario{
		ID:      "gateway/502-reset",
		Title:   "Connections reset by peer behind the gateway: 502",
		Symptom: "502 >= 95% and 'recv() failed (104: Connection reset by peer) while reading response header' in the error log",
		Story: `A firewall between Kong and the upstream drops idle flows from its table and answers the next packet with ` +
			`a RST. Kong's pooled keep-alive connections are the ones hit: clients get 502s although the upstream is healthy.`,
		Lesson: `"recv() failed (104: Connection reset by peer)" is a RST, not a close: something on the path (or the upstream's ` +
			`kernel, for a closed socket with unread data) reset the connection. Compare idle timeouts along the path (firewall, ` +
			`NAT, load balancer) with Kong's upstream keep-alive settings; a tcpdump on the gateway host shows who sent the RST.`,
		New: func() Play {
			return &gwFailure{status: 502, body: "An invalid response was received from the upstream server",
				logLine: "recv() failed (104: Connection reset by peer) while reading response header from upstream",
				breakIt: withFault(lab.ResetPeer{})}
		},
	})
}
