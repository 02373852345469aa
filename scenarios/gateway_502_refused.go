package scenarios

import "github.com/chaoslab/chaoslab/lab"

func init() {
	Register(Scenario{
		ID:      "gateway/502-upstream-refused",
		Title:   "Nothing listens where the service points: 502",
		Symptom: "502 'An invalid response was received from the upstream server' >= 95% and 'connect() failed (111: Connection refused)' in the error log",
		Story: `A deploy moves the orders service to a new port, or its pods are all restarting. Kong still points at the old ` +
			`address: every connect is refused and every request gets a 502 within milliseconds.`,
		Lesson: `A fast 502 with "connect() failed (111: Connection refused) while connecting to upstream" means nothing ` +
			`listens at the service's host:port: check the service definition against where the upstream really listens ` +
			`(curl it directly from the gateway host). Connect failures are retried for every method, so with retries each ` +
			`request logs several lines.`,
		New: func() Play {
			return &gwFailure{status: 502, body: "An invalid response was received from the upstream server",
				logLine: "connect() failed (111: Connection refused) while connecting to upstream", breakIt: withFault(lab.Down{})}
		},
	})
}
