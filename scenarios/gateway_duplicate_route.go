package scenarios

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/onsi/gomega"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "gateway/duplicate-route-rejected",
		Title: "A reload declaring one route name twice is refused; the old config keeps serving",
		Symptom: "POST /config with two routes named 'orders': 400 'invalid declarative configuration' with fields.routes " +
			"'uniqueness violation ... already declared', configuration_hash unchanged, the new route 404s, and 0 failed " +
			"requests under load across the refused reload; renamed: 201 and both routes 200",
		Story: `Two teams each own part of the gateway's kong.yml and a pipeline merges their files before a deck sync ` +
			`(POST /config in DB-less mode). Team B copies team A's service as the template for its v2 and forgets to ` +
			`rename the route. The deploy job goes red with a 400; team B's new endpoint answers 404 and someone asks ` +
			`whether production is down.`,
		Lesson: `In DB-less mode a configuration is applied all or nothing: Kong validates the whole file and answers 400 ` +
			`(code 14, "invalid declarative configuration") with the field errors, and keeps serving the previous ` +
			`configuration untouched — traffic is not affected, the new routes simply do not exist yet. Names of services, ` +
			`routes, upstreams and consumers' usernames are unique across the whole file, nesting does not scope them: ` +
			`the error sits under the entity type, at the index inside the list where the second one was declared ` +
			`(fields.routes[1] is the first route of some later service, not routes[1] of the file). Schema errors come ` +
			`first: a duplicate is only reported once the file is otherwise valid. GET /status's configuration_hash ` +
			`tells which configuration is live.

Fix: give the route a unique name (or let one team own both) and validate before deploying ` +
			`(deck file validate, or kong config parse kong.yml).`,
		New: func() Play { return &gwDuplicateRoute{} },
	})
}

type gwDuplicateRoute struct{ gwSetup }

// config is the merged file: team A's orders service, plus team B's v2
// whose route is named routeName ("orders" is the copy-paste mistake).
func (x *gwDuplicateRoute) config(withV2 bool, routeName string) string {
	svcs := []string{service("orders", httpURL("http", x.up))}
	if withV2 {
		svcs = append(svcs, fmt.Sprintf("- name: orders-v2\n  url: %s\n  routes:\n  - name: %s\n    paths: [/v2/orders]\n",
			httpURL("http", x.up), routeName))
	}
	return kongYAML(services(svcs...))
}

func (x *gwDuplicateRoute) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(x.config(false, ""))
	s.Command("Send the merged file (DB-less reload)", "curl -si "+x.gw.AdminURL()+"/config -F config=@kong.yml")
	s.Command("Which configuration is live", "curl -s "+x.gw.AdminURL()+"/status | grep -o '\"configuration_hash\":\"[0-9a-f]*\"'")
	s.Command("The routes Kong serves", "curl -s "+x.gw.AdminURL()+"/routes | grep -o '\"name\":\"[^\"]*\"'")
	s.Command("Validate before deploying (real Kong)", "kong config parse kong.yml")
}

// configHash is GET /status's configuration_hash: which file is live.
func (x *gwDuplicateRoute) configHash(s *S) string {
	code, b, err := x.gw.Admin(s.Ctx, "/status")
	s.Must(err, "reading the admin API's /status")
	var st struct {
		Hash string `json:"configuration_hash"`
	}
	if code != 200 || json.Unmarshal(b, &st) != nil || st.Hash == "" {
		s.Failf("admin /status: %d %.200s: no configuration_hash", code, b)
	}
	return st.Hash
}

// reloadUnderLoad posts kongYAML a second into a paced attack on targets and
// returns the attack's results with the admin API's answer.
func (x *gwDuplicateRoute) reloadUnderLoad(s *S, name, kongYAML string, targets ...load.Target) (load.Results, int, string) {
	const d = 3 * time.Second
	var (
		wg      sync.WaitGroup
		rs      load.Results
		loadErr error
	)
	t0 := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rs, loadErr = load.Run(s.Ctx, targets, load.Constant(gwRate), d, load.WithTimeout(5*time.Second))
	}()
	defer wg.Wait() // also when an assertion below ends the scenario
	s.Sleep(time.Second)
	code, body, err := x.gw.PostConfig(s.Ctx, kongYAML)
	s.Must(err, "POST /config")
	s.Note(fmt.Sprintf("POST /config answered %d under load", code))
	wg.Wait()
	if loadErr != nil && len(rs) == 0 {
		s.Failf("load %s: %v", name, loadErr)
	}
	s.RecordLoad(name, load.Constant(gwRate).String(), t0, rs)
	return rs, code, string(body)
}

func (x *gwDuplicateRoute) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	v2 := target("GET", x.gw.ProxyURL()+"/v2/orders")
	var liveHash string
	s.Phase("baseline", "team A's orders route serves", func() {
		s.Expect(s.gwAttack("orders", orders), "orders calls succeed").To(HaveSuccessShare(">=", 0.99))
		liveHash = x.configHash(s)
	})
	s.Phase("fault", "the merged file declares route 'orders' twice; reloaded under load", func() {
		s.Lab.Record("fault-applied", "gateway", "POST /config with a duplicate route name")
		rs, code, body := x.reloadUnderLoad(s, "orders across the refused reload", x.config(true, "orders"), orders)
		s.Measure("POST /config status", float64(code), "", "Kong refuses an invalid file as a whole")
		s.Log("POST /config answer", strings.Split(strings.TrimSpace(body), "\n"))
		s.Expect(float64(code), "the reload is refused").To(BeNumber("==", 400, ""))
		var kerr struct {
			Code   int                  `json:"code"`
			Name   string               `json:"name"`
			Fields map[string][]*string `json:"fields"`
		}
		if err := json.Unmarshal([]byte(body), &kerr); err != nil {
			s.Failf("the 400 body is not Kong's JSON error: %v: %.300s", err, body)
		}
		s.Expect(kerr.Name, "Kong's error name").To(gomega.Equal("invalid declarative configuration"))
		s.Expect(float64(kerr.Code), "Kong's error code").To(BeNumber("==", 14, ""))
		// The second route "orders" is the first route of the second
		// service: Kong files it as fields.routes[1] (1-based).
		routes := kerr.Fields["routes"]
		want := "uniqueness violation: 'routes' entity with name set to 'orders' already declared"
		if len(routes) != 1 || routes[0] == nil || *routes[0] != want {
			s.Failf("fields.routes: want [%q], got %s", want, body)
		}
		s.Note("fields.routes[1]: " + want)
		s.Expect(rs, "no request failed across the refused reload").To(HaveSuccessShare(">=", 1.0))
		s.Expect(x.configHash(s), "configuration_hash (the old file is live)").To(gomega.Equal(liveHash))
		s.Expect(s.gwAttack("the new route", v2), "team B's route does not exist: 404").To(HaveStatusShare(404, ">=", 0.99))
	})
	s.Phase("fix", "rename team B's route to orders-v2 and reload under load", func() {
		rs, code, body := x.reloadUnderLoad(s, "orders across the good reload", x.config(true, "orders-v2"), orders)
		if code != 201 {
			s.Failf("the corrected file was refused: %d %.500s", code, body)
		}
		s.Lab.Record("fault-removed", "gateway", "route renamed, POST /config 201")
		s.Expect(rs, "no request failed across the reload").To(HaveSuccessShare(">=", 1.0))
	})
	s.Phase("recovery", "both routes serve", func() {
		// Real Kong applies a new file through an event: poll until it is live.
		s.Eventually("the new configuration is live", 5*time.Second, 100*time.Millisecond, func() error {
			if h := x.configHash(s); h == liveHash {
				return fmt.Errorf("configuration_hash still %s", h)
			}
			return nil
		})
		s.Expect(s.gwAttack("orders", orders), "orders calls succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("orders-v2", v2), "the new route serves").To(HaveSuccessShare(">=", 0.99))
	})
}
