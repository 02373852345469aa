package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/internal/listeners"
	"github.com/chaoslab/chaoslab/internal/procs"
	"github.com/chaoslab/chaoslab/internal/turns"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/scenarios/drill"
)

// trainee drives `chaoslab drill` as a trainee would, against a state
// directory of its own.
type trainee struct {
	t     *testing.T
	state string
	env   []string
}

func newTrainee(t *testing.T, env ...string) *trainee {
	tr := &trainee{t: t, state: filepath.Join(t.TempDir(), "state"), env: env}
	t.Cleanup(func() { // a failed test must not leave a drill running
		if _, _, code := tr.run("stop"); code == 0 {
			t.Log("stopped a drill the test left running")
		}
	})
	return tr
}

func (tr *trainee) run(args ...string) (stdout, stderr string, code int) {
	tr.t.Helper()
	cmd := exec.Command(bin, append([]string{"drill"}, args...)...)
	cmd.Env = append(append(os.Environ(), drill.EnvStateDir+"="+tr.state), tr.env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		tr.t.Fatalf("chaoslab drill %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// must runs a command that must succeed.
func (tr *trainee) must(args ...string) string {
	tr.t.Helper()
	out, errOut, code := tr.run(args...)
	if code != 0 {
		tr.t.Fatalf("chaoslab drill %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// start starts a drill and logs the time to the briefing.
func (tr *trainee) start(args ...string) string {
	tr.t.Helper()
	out := tr.must(append([]string{"start"}, args...)...)
	if m := regexp.MustCompile(`\(briefing ([0-9.]+ s) after start\)`).FindStringSubmatch(out); m != nil {
		tr.t.Logf("%s: briefing %s after start", args[0], m[1])
	} else {
		tr.t.Errorf("start printed no briefing time:\n%s", out)
	}
	return out
}

// fails runs a command that must fail with one clear line naming want.
func (tr *trainee) fails(want string, args ...string) {
	tr.t.Helper()
	out, errOut, code := tr.run(args...)
	if code == 0 {
		tr.t.Fatalf("chaoslab drill %s succeeded, want an error with %q\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(errOut, want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		tr.t.Fatalf("chaoslab drill %s: stderr %q, want one line with %q", strings.Join(args, " "), errOut, want)
	}
}

func (tr *trainee) status() drill.Status {
	tr.t.Helper()
	var st drill.Status
	if err := json.Unmarshal([]byte(tr.must("status", "--json")), &st); err != nil {
		tr.t.Fatal(err)
	}
	return st
}

func (tr *trainee) addr(st drill.Status, v string) string {
	tr.t.Helper()
	for _, a := range st.Briefing.Addresses {
		if a.Var == v {
			return a.Value
		}
	}
	tr.t.Fatalf("briefing has no $%s: %+v", v, st.Briefing.Addresses)
	return ""
}

// checkFails runs check and wants a failure showing the measured symptom.
func (tr *trainee) checkFails(symptom string) {
	tr.t.Helper()
	out, _, code := tr.run("check")
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, symptom) {
		tr.t.Fatalf("check before the fix: exit %d, want 1 with FAIL and %q:\n%s", code, symptom, out)
	}
}

// checkPasses runs check until it passes (a fix that takes effect over
// time, like a rollout, is checked again as a trainee would) and wants the
// debrief with its HTML page.
func (tr *trainee) checkPasses(tries int, every time.Duration) string {
	tr.t.Helper()
	var out string
	for i := range tries {
		var code int
		out, _, code = tr.run("check")
		if code == 0 {
			tr.t.Logf("check passed on try %d", i+1)
			break
		}
		if i == tries-1 {
			tr.t.Fatalf("check after the fix still fails after %d tries:\n%s", tries, out)
		}
		time.Sleep(every)
	}
	if !strings.Contains(out, "PASS") || !strings.Contains(out, "Debrief:") {
		tr.t.Fatalf("passing check without a debrief:\n%s", out)
	}
	m := regexp.MustCompile(`debrief page: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		tr.t.Fatalf("no debrief page in:\n%s", out)
	}
	page, err := os.ReadFile(m[1])
	if err != nil || !bytes.Contains(page, []byte("chaoslab drill debrief")) || !bytes.Contains(page, []byte(".pill")) {
		tr.t.Fatalf("debrief page %s: %v %.200q", m[1], err, page)
	}
	return out
}

// running is what a drill started: its processes and their listeners.
type running struct {
	pids  []int
	socks []listeners.Socket
}

func (tr *trainee) snapshot(st drill.Status) running {
	tr.t.Helper()
	pids := append([]int{st.PID}, listeners.Descendants(st.PID)...)
	socks, err := listeners.Of(pids...)
	if err != nil {
		tr.t.Fatal(err)
	}
	for _, s := range socks {
		if s.Reachable() {
			tr.t.Errorf("the drill listens off loopback: %s", s)
		}
	}
	return running{pids, socks}
}

// stopAndNothingLeft stops the drill and checks that its processes,
// listeners and files are gone (the debrief page is kept, on purpose).
func (tr *trainee) stopAndNothingLeft(r running) {
	tr.t.Helper()
	tr.must("stop")
	for _, pid := range r.pids {
		if procs.Running(pid) {
			tr.t.Errorf("process %d of the drill is still running after stop", pid)
		}
	}
	for _, s := range r.socks {
		if s.Proto != "tcp" && s.Proto != "tcp6" {
			continue
		}
		if c, err := net.DialTimeout("tcp", s.Addr.String(), time.Second); err == nil {
			c.Close()
			tr.t.Errorf("%s still accepts connections after stop", s.Addr)
		}
	}
	entries, _ := os.ReadDir(tr.state)
	for _, e := range entries {
		if e.Name() != "debriefs" {
			tr.t.Errorf("left in the state directory after stop: %s", e.Name())
		}
	}
	tr.fails("no drill running", "status")
}

// kongConfig is GET /config on the admin API: the YAML it runs.
func kongConfig(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct{ Config string }
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Config == "" {
		t.Fatalf("GET /config: %v %+v", err, doc)
	}
	return doc.Config
}

// postKongConfig is `curl -X POST ADMIN/config -F config=@kong.yml`.
func postKongConfig(t *testing.T, admin, yml string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	f, _ := w.CreateFormFile("config", "kong.yml")
	_, _ = io.WriteString(f, yml)
	_ = w.Close()
	resp, err := http.Post(admin+"/config", w.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// editKongConfig is the trainee's fix: GET /config, edit, POST /config.
func editKongConfig(t *testing.T, admin string, edit func(string) string) {
	t.Helper()
	before := kongConfig(t, admin)
	after := edit(before)
	if after == before {
		t.Fatalf("the edit changed nothing in:\n%s", before)
	}
	if code, body := postKongConfig(t, admin, after); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("POST /config: %d %s", code, body)
	}
}

func TestDrillList(t *testing.T) {
	out := newTrainee(t).must("list")
	for _, fam := range []string{"gateway/", "tls/", "credentials/", "dns/", "autoscaling/"} {
		if !strings.Contains(out, fam) {
			t.Errorf("drill list has no %s drill:\n%s", fam, out)
		}
	}
}

// TestDrillGatewayAndBadInput: the gateway drill end to end, with every bad
// input of the issue on the way; the drill keeps running through them.
func TestDrillGatewayAndBadInput(t *testing.T) {
	tr := newTrainee(t, lab.EnvGateway+"=emulation")
	tr.fails("no drill running", "check")
	tr.fails("no drill running", "hint")
	tr.fails(`unknown drill "gateway/nope"`, "start", "gateway/nope")
	if _, err := os.Stat(filepath.Join(tr.state, "drill")); err == nil {
		t.Fatal("an unknown drill left a drill directory")
	}

	out := tr.start("gateway/504-slow-upstream")
	for _, want := range []string{"Ticket:", "504", "gateway admin API", "gateway-error.log"} {
		if !strings.Contains(out, want) {
			t.Errorf("briefing lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"read_timeout", "timed out"} { // the cause stays hidden
		if strings.Contains(out, secret) {
			t.Errorf("briefing gives away %q:\n%s", secret, out)
		}
	}
	st := tr.status()
	if st.State != "investigating" {
		t.Fatalf("state %q after start", st.State)
	}
	if fi, err := os.Stat(st.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("drill directory %s: %v %v, want 0700", st.Dir, err, fi.Mode())
	}
	r := tr.snapshot(st)
	tr.fails("a drill is already running: gateway/504-slow-upstream", "start", "gateway/429-rate-limit")

	tr.checkFails("504")
	hint := tr.must("hint")
	proxy, admin := tr.addr(st, "PROXY"), tr.addr(st, "ADMIN")
	if !strings.Contains(hint, "hint 1 of") || !strings.Contains(hint, proxy) {
		t.Errorf("first hint without the real proxy address %s:\n%s", proxy, hint)
	}
	// The background load keeps the logs alive.
	errLog := st.Briefing.Logs[0]
	waitFor(t, "the gateway's error log file to fill", func() bool {
		b, _ := os.ReadFile(errLog)
		return bytes.Contains(b, []byte("upstream timed out"))
	})

	// A fix that breaks the lab: the admin API refuses it in one line, the drill goes on.
	code, body := postKongConfig(t, admin, "_format_version: \"3.0\"\nservices: [\n")
	if code != http.StatusBadRequest || !strings.Contains(body, "declarative config is invalid") {
		t.Fatalf("bad kong.yml through the admin API: %d %s", code, body)
	}
	tr.fails("this drill has no platform settings", "set", "NOPE=1")
	if st := tr.status(); st.State != "investigating" {
		t.Fatalf("state %q after the bad inputs", st.State)
	}
	tr.checkFails("504")

	editKongConfig(t, admin, func(y string) string {
		return regexp.MustCompile(`read_timeout: 100\b`).ReplaceAllString(y, "read_timeout: 1000")
	})
	out = tr.checkPasses(1, 0)
	if !strings.Contains(out, "1 of 4 hints") || !strings.Contains(out, "3 check(s)") {
		t.Errorf("debrief does not count hints and checks:\n%s", out)
	}
	tr.stopAndNothingLeft(r)
	if kept, _ := filepath.Glob(filepath.Join(tr.state, "debriefs", "gateway-504-slow-upstream-*.html")); len(kept) != 1 {
		t.Errorf("debrief pages kept: %v", kept)
	}
	tr.fails("no drill running", "stop")
}

func TestDrillTLS(t *testing.T) {
	tr := newTrainee(t)
	tr.start("tls/mitm-untrusted-root")
	st := tr.status()
	r := tr.snapshot(st)
	tr.checkFails("unknown-authority")
	tr.fails("CLIENT_CA_BUNDLE=\"rel.pem\": give an absolute path", "set", "CLIENT_CA_BUNDLE=rel.pem")

	// The documented fix: fetch the proxy's root, bundle it with the
	// partner's CA, prove it with curl --cacert, then set it.
	proxy := tr.addr(st, "PROXY")
	resp, err := http.Get(proxy + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	partner, err := os.ReadFile(tr.addr(st, "PARTNER_CA"))
	if err != nil || !bytes.Contains(root, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("proxy root %q / partner CA: %v", root, err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, append(partner, root...), 0o600); err != nil {
		t.Fatal(err)
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", proxy, "--cacert", bundle, tr.addr(st, "API")+"/").CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Fatalf("curl --proxy --cacert bundle: %v %s", err, out)
		}
	} else {
		t.Log("curl not installed (apt-get install curl): the curl step of the fix is skipped, the check still runs")
	}
	tr.must("set", "CLIENT_CA_BUNDLE="+bundle)
	tr.checkPasses(1, 0)
	tr.stopAndNothingLeft(r)
}

func TestDrillCredentials(t *testing.T) {
	tr := newTrainee(t)
	tr.start("credentials/short-ttl-refresh-storm")
	st := tr.status()
	r := tr.snapshot(st)
	tr.checkFails("calls/request")
	tr.fails("want a positive duration", "set", "METADATA_CREDENTIAL_TTL=soon")
	tr.must("set", "METADATA_CREDENTIAL_TTL=6h")
	tr.checkPasses(1, 0)
	tr.stopAndNothingLeft(r)
}

func TestDrillDNS(t *testing.T) {
	tr := newTrainee(t)
	tr.start("dns/ndots-search-expansion")
	st := tr.status()
	r := tr.snapshot(st)
	tr.checkFails("names/lookup")
	tr.fails("the service's Elasticsearch is", "set", "ES_HOST=example.com.")
	tr.must("set", "ES_HOST=search-logs.eu-west-1.es.amazonaws.com.")
	tr.checkPasses(2, time.Second)
	tr.stopAndNothingLeft(r)
}

func TestDrillAutoscaling(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: run make k8s-tools")
	}
	if lab.DefaultCluster() != "kwok" {
		t.Skip("kwok control plane not built: run make k8s-tools")
	}
	turns.Take(t)
	tr := newTrainee(t)
	tr.start("autoscaling/hpa-unknown-target", "--cluster", "kwok")
	st := tr.status()
	r := tr.snapshot(st)
	tr.checkFails("replicas")
	kc, ns := tr.addr(st, "KUBECONFIG"), tr.addr(st, "NS")
	out, err := exec.Command(kubectl, "--kubeconfig", kc, "-n", ns, "get", "hpa").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<unknown>") {
		t.Fatalf("kubectl get hpa before the fix: %v\n%s", err, out)
	}
	out, err = exec.Command(kubectl, "--kubeconfig", kc, "-n", ns, "set", "resources", "deployment", "web", "--requests=cpu=100m").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl set resources: %v\n%s", err, out)
	}
	tr.checkPasses(12, 5*time.Second) // the rollout, metrics-server's samples, the HPA's sync
	tr.stopAndNothingLeft(r)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 15s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDrillTimeLimit: a drill nobody stops (the trainee's shell is gone)
// stops itself at its time limit and leaves nothing behind.
func TestDrillTimeLimit(t *testing.T) {
	tr := newTrainee(t)
	tr.start("gateway/504-slow-upstream", "--time-limit", "20s") // from start: the briefing takes ~3 s
	st := tr.status()
	r := tr.snapshot(st)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if _, _, code := tr.run("status"); code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the drill did not stop itself within 60s of a 20s time limit")
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, pid := range r.pids {
		for deadline := time.Now().Add(10 * time.Second); procs.Running(pid) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		if procs.Running(pid) {
			t.Errorf("process %d outlived the time limit", pid)
		}
	}
	entries, _ := os.ReadDir(tr.state)
	for _, e := range entries {
		t.Errorf("left in the state directory after the time limit: %s", e.Name())
	}
}

// TestDrillGatewayRealKong: the same drill and fix on real Kong 3.9.1 (a
// host process under the drill's daemon): its GET /config exports the
// whole configuration, and the documented edit works on it too.
func TestDrillGatewayRealKong(t *testing.T) {
	tr := newTrainee(t)
	out, errOut, code := tr.run("start", "gateway/504-slow-upstream", "--gateway", "kong")
	if code != 0 {
		if strings.Contains(errOut, "real Kong not built") {
			t.Skip("real Kong not built: run make kong")
		}
		t.Fatalf("start on real Kong: exit %d\n%s%s", code, out, errOut)
	}
	st := tr.status()
	if st.Briefing.Gateway == "" || !strings.Contains(st.Briefing.Gateway, "kong 3.9") {
		t.Fatalf("gateway %q, want real Kong", st.Briefing.Gateway)
	}
	r := tr.snapshot(st)
	if len(r.pids) < 2 {
		t.Fatalf("no Kong process under the drill's daemon: %v", r.pids)
	}
	tr.checkFails("504")
	admin := tr.addr(st, "ADMIN")
	if code, body := postKongConfig(t, admin, "_format_version: \"3.0\"\nservices: [\n"); code != http.StatusBadRequest {
		t.Fatalf("bad kong.yml on real Kong: %d %s", code, body)
	}
	editKongConfig(t, admin, func(y string) string {
		return regexp.MustCompile(`read_timeout: 100\b`).ReplaceAllString(y, "read_timeout: 1000")
	})
	tr.checkPasses(1, 0)
	tr.stopAndNothingLeft(r)
}

// TestDrillGatewayDocker: the gateway drill on the docker backend (real
// Kong's image when it is there); stop removes the drill's containers.
func TestDrillGatewayDocker(t *testing.T) {
	dockerCLI, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not installed: apt-get install docker.io")
	}
	containers := func(pid int) []string {
		out, err := exec.Command(dockerCLI, "ps", "-a", "-q", "--filter", fmt.Sprintf("label=chaoslab.pid=%d", pid)).Output()
		if err != nil {
			t.Fatalf("docker ps: %v", err)
		}
		return strings.Fields(string(out))
	}
	tr := newTrainee(t)
	out, errOut, code := tr.run("start", "gateway/504-slow-upstream", "--backend", "docker")
	if code != 0 {
		if strings.Contains(errOut, "skipped:") {
			t.Skip(strings.TrimSpace(errOut))
		}
		t.Fatalf("start on docker: exit %d\n%s%s", code, out, errOut)
	}
	st := tr.status()
	r := tr.snapshot(st)
	if len(containers(st.PID)) == 0 {
		t.Fatal("no container carries the drill's label")
	}
	tr.checkFails("504")
	editKongConfig(t, tr.addr(st, "ADMIN"), func(y string) string {
		return regexp.MustCompile(`read_timeout: 100\b`).ReplaceAllString(y, "read_timeout: 1000")
	})
	tr.checkPasses(1, 0)
	tr.stopAndNothingLeft(r)
	if left := containers(st.PID); len(left) > 0 {
		t.Errorf("containers left after stop: %v", left)
	}
}
