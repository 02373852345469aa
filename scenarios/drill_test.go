package scenarios

import (
	"strings"
	"testing"
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
