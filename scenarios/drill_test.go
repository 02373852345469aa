package scenarios

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/reports"
)

// TestDrillData: every drill belongs to a catalog scenario whose phases it
// names, hides the cause in its ticket, and hints down to a command.
func TestDrillData(t *testing.T) {
	families := map[string]int{}
	for _, e := range Drills() {
		d := e.Drill
		families[e.Family()]++
		if len(d.Hints) < 3 {
			t.Errorf("%s: %d hints, want at least 3 (where to look ... the exact command)", e.ID, len(d.Hints))
		}
		if len(d.Tools) == 0 || d.Addresses == nil {
			t.Errorf("%s: no tools or addresses for the trainee", e.ID)
		}
		if strings.Contains(strings.ToLower(d.Ticket), strings.ToLower(e.Title)) {
			t.Errorf("%s: the ticket gives away the title (the cause)", e.ID)
		}
		for _, st := range d.Settings {
			if st.Apply == nil || st.Doc == "" || strings.ToUpper(st.Key) != st.Key {
				t.Errorf("%s: setting %q needs an upper-case key, a doc and Apply", e.ID, st.Key)
			}
		}
		if !strings.Contains(d.PhasePlan(), "check runs recovery") {
			t.Errorf("%s: phase plan %q", e.ID, d.PhasePlan())
		}
	}
	for _, f := range []string{"gateway", "tls", "credentials", "dns", "autoscaling"} {
		if families[f] == 0 {
			t.Errorf("no drill in family %s", f)
		}
	}
	if n := len(Drills()); n < 12 {
		t.Errorf("%d drills, want at least 12", n)
	}
	if _, err := LookupDrill("gateway/nope"); err == nil || !strings.Contains(err.Error(), "valid drills are") {
		t.Errorf("LookupDrill of an unknown id: %v", err)
	}
}

func TestExpand(t *testing.T) {
	got := Expand("curl $API/ -connect $API_ADDR", []Address{{Var: "API", Value: "https://h:1"}, {Var: "API_ADDR", Value: "h:1"}})
	if got != "curl https://h:1/ -connect h:1" {
		t.Errorf("Expand = %q", got)
	}
}

// TestSessionInProcess plays a gateway drill without the daemon: the
// briefing comes once the fault is live, a check before the fix fails with
// the symptom, a setting the drill lacks is refused, the fix through the
// admin API makes the check pass, and cancelling ends the scenario with
// its background load and log copying stopped (goleak, in TestMain).
func TestSessionInProcess(t *testing.T) {
	e, err := LookupDrill("gateway/504-slow-upstream")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	briefed := make(chan Briefing, 1)
	sess := &Session{Drill: e.Drill, LogDir: t.TempDir(), Requests: make(chan Request), Ready: func(b Briefing) { briefed <- b }}
	done := make(chan *reports.Scenario, 1)
	go func() { done <- Execute(ctx, e.Scenario, Options{Backend: "embedded", Dir: t.TempDir(), Drill: sess}) }()
	var b Briefing
	select {
	case b = <-briefed:
	case res := <-done:
		t.Fatalf("the scenario ended before the briefing: %s %s", res.Verdict, res.Reason)
	}
	ask := func(r Request) Reply {
		r.Reply = make(chan Reply, 1)
		sess.Requests <- r
		return <-r.Reply
	}
	if rep := ask(Request{Kind: "check"}); rep.Check == nil || rep.Check.Passed || !strings.Contains(rep.Check.Reason, "504") {
		t.Fatalf("check before the fix: %+v", rep.Check)
	}
	if rep := ask(Request{Kind: "set", Key: "X", Value: "1"}); !strings.Contains(rep.Err, "no platform settings") {
		t.Fatalf("set on a drill without settings: %q", rep.Err)
	}
	admin := Expand("$ADMIN", b.Addresses)
	resp, err := http.Get(admin + "/config")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Config string }
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	fixed := strings.Replace(doc.Config, "read_timeout: 100\n", "read_timeout: 1000\n", 1)
	resp, err = http.Post(admin+"/config", "application/yaml", strings.NewReader(fixed))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /config: %v %v", err, resp)
	}
	resp.Body.Close()
	if rep := ask(Request{Kind: "check"}); rep.Check == nil || !rep.Check.Passed || len(rep.Check.Assertions) == 0 {
		t.Fatalf("check after the fix: %+v", rep.Check)
	}
	cancel()
	if res := <-done; res.Verdict != reports.Skipped {
		t.Fatalf("verdict after the drill ended: %s %s", res.Verdict, res.Reason)
	}
	if logs, _ := os.ReadDir(sess.LogDir); len(logs) != 2 {
		t.Errorf("log files: %v", logs)
	}
}

func TestFreshLogLines(t *testing.T) {
	for _, c := range []struct {
		prev, cur, want []string
	}{
		{nil, []string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"a", "b", "c"}, []string{"c"}},
		{[]string{"a", "b", "c"}, []string{"b", "c", "d", "e"}, []string{"d", "e"}}, // full: a dropped off
		{[]string{"x", "x", "x"}, []string{"x", "x", "x"}, []string{}},              // nothing new
		{[]string{"x", "x", "x"}, []string{"x", "x", "y"}, []string{"y"}},
		{[]string{"a", "b"}, []string{"c", "d"}, []string{"c", "d"}}, // more than the log keeps
	} {
		if got := fresh(c.prev, c.cur); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("fresh(%v, %v) = %v, want %v", c.prev, c.cur, got, c.want)
		}
	}
}
