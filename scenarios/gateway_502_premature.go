package scenarios

import (
	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/502-premature-close",
		Title:   "The upstream closes the connection before answering: 502",
		Symptom: "502 >= 95% and 'upstream prematurely closed connection while reading response header' in the error log",
		Story: `An upstream crashes on a code path (a panic handler that closes the socket), or its keep-alive timeout is ` +
			`shorter than Kong's and it closes pooled connections just as Kong reuses them. Kong reads EOF where it expected ` +
			`a response header.`,
		Lesson: `"upstream prematurely closed connection while reading response header from upstream" means the TCP connection ` +
			`ended cleanly (FIN) before any response. If it is intermittent, compare the upstream's keep-alive timeout with ` +
			`Kong's upstream_keepalive_idle_timeout: the upstream's must be longer. If every request fails, the upstream is ` +
			`crashing on the request: look at its logs.`,
		New: func() Play {
			return &gwFailure{status: 502, body: "An invalid response was received from the upstream server",
				logLine: "upstream prematurely closed connection while reading response header from upstream",
				breakIt: withBehaviour(upstream.Behaviour{Mode: upstream.ModeClose}, func(s *S, x *gwFailure) {
					s.Expect(s.directProbe(x.up.DirectURL()+"/"), "the upstream itself closes before answering").
						To(HaveErrorKindShare(load.ErrEOF, ">=", 0.9))
				})}
		},
	})
}
