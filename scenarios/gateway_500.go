package scenarios

import (
	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/500-upstream-error",
		Title:   "A 500 from the upstream passes through Kong unchanged",
		Symptom: "500 >= 95% with the upstream's own body (not Kong's), and access-log lines with status 500 and upstream_status 500",
		Story: `Users report "Kong returns 500". The gateway team is paged, but Kong did nothing wrong: the upstream answered ` +
			`500 and Kong passed it on. Without the access log's upstream_status the two are easy to confuse.`,
		Lesson: `Kong does not intercept upstream errors: a 500 whose body is the application's own came from the upstream. ` +
			`Kong's own 500 says "An unexpected error occurred". The access log tells them apart: status=500 with ` +
			`upstream_status=500 is the upstream's answer; a Kong-generated error has no upstream_status or a different one.`,
		New: func() Play {
			return &gwFailure{status: 500, body: `"upstream":"orders"`,
				breakIt: withBehaviour(upstream.Behaviour{Status: 500}, func(s *S, x *gwFailure) {
					s.Expect(s.directProbe(x.up.DirectURL()+"/"), "the upstream itself answers 500").
						To(HaveStatusShare(500, ">=", 0.99))
				}),
				extra: func(s *S, x *gwFailure, rs load.Results) {
					s.Expect(rs, "not Kong's own 500 body").To(HaveBodyShare("An unexpected error occurred", "==", 0))
					acc := settled(x.gw.AccessLog)
					s.Log("gateway access log", acc)
					s.Expect(acc, "access log: status 500 from upstream_status 500").
						To(HaveLogLines(`upstream_status: "500"`, ">=", len(rs)*9/10))
				}}
		},
	})
}
