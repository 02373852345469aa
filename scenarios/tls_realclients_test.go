package scenarios

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/reports"
)

// The TLS lessons list commands filled in with the lab's addresses. These
// tests bring each topology up, run every command exactly as the report
// shows it (bash -c, with the real curl and openssl) and check it shows
// what its title promises; then they check nothing the lab wrote (keys,
// certificates) outlives it.

// want is what one lesson command must show: its exit code (-1: any
// non-zero) and texts its output must contain.
type want struct {
	exit     int
	contains []string
}

func TestRealClientsMITMUntrustedRoot(t *testing.T) {
	play := &mitmUntrustedRoot{}
	s := labWithSetup(t, play)
	proxyCA := diagnose.OpenSSLName(parsePEMCerts(s, play.inspect.CAPath())[0].Subject)
	serverIntermediate := "O = chaoslab, CN = chaoslab lab intermediate CA"
	runLesson(t, s, map[string]want{
		"Who signed the certificate the server sends (directly)":     {0, []string{"issuer=" + serverIntermediate}},
		"Who signed the certificate the client is shown through the": {0, []string{"issuer=" + proxyCA, "subject=O = chaoslab, CN = localhost"}},
		"The verdict through the proxy":                              {-1, []string{"Verify return code: 20 (unable to get local issuer certificate)"}},
		"The incident: curl through the proxy":                       {60, []string{"unable to get local issuer certificate"}},
		"Fix A: trust the proxy's root CA":                           {0, []string{`"upstream":"api"`}},
		"Fix B: a proxy that tunnels this host":                      {0, []string{`"upstream":"api"`}},
		"The proxy's root CA, as trainees download it":               {0, []string{"subject=" + proxyCA}},
	})
	// The proxy saw curl refuse its certificate with OpenSSL's alert (it
	// logs the aborted handshake after curl has already exited).
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(play.inspect.Stderr(), "\n"), "unknown certificate authority") {
		if time.Now().After(deadline) {
			t.Errorf("the proxy's log should show curl's unknown-CA alert:\n%s", strings.Join(play.inspect.Stderr(), "\n"))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeAndCheckNothingLeft(t, s)
}

func TestRealClientsMissingIntermediate(t *testing.T) {
	s := labWithSetup(t, &missingIntermediate{})
	runLesson(t, s, map[string]want{
		"How many certificates the server sends":         {0, []string{" 0 s:O = chaoslab, CN = localhost", "i:O = chaoslab, CN = chaoslab lab intermediate CA"}},
		"The verdict for a client holding only the root": {-1, []string{"Verify return code: 20 (unable to get local issuer certificate)"}},
		"curl holding only the root exits 60":            {60, []string{"unable to get local issuer certificate"}},
		"The proof: give the client the intermediate":    {0, []string{"200"}},
		"The fix on the server":                          {0, []string{"2"}},
		"The fixed deployment":                           {0, []string{" 1 s:O = chaoslab, CN = chaoslab lab intermediate CA", "Verify return code: 0 (ok)"}},
	})
	closeAndCheckNothingLeft(t, s)
}

func TestRealClientsHostnameMismatch(t *testing.T) {
	s := labWithSetup(t, &hostnameMismatch{})
	runLesson(t, s, map[string]want{
		"The names the certificate carries": {0, []string{"DNS:localhost, IP Address:127.0.0.1"}},
		"The verdict for the new name":      {-1, []string{"Verify return code: 62 (hostname mismatch)"}},
		"curl by the new name exits 60":     {60, []string{"no alternative certificate subject name matches target host name 'api.chaoslab.test'"}},
		"The reissued certificate":          {0, []string{`"upstream":"api-reissued"`}},
	})
	closeAndCheckNothingLeft(t, s)
}

func TestRealClientsExpiredCertificate(t *testing.T) {
	s := labWithSetup(t, &expiredCertificate{})
	runLesson(t, s, map[string]want{
		"The dates of the certificate":       {0, []string{"notAfter="}},
		"The verdict: verify error 10":       {-1, []string{"Verify return code: 10 (certificate has expired)"}},
		"curl exits 60 (certificate has exp": {60, []string{"certificate has expired"}},
		"The renewed certificate (exit 0)":   {0, []string{`"upstream":"api-renewed"`}},
	})
	closeAndCheckNothingLeft(t, s)
}

func TestRealClientsMTLSThroughInspectingProxy(t *testing.T) {
	s := labWithSetup(t, &mtlsThroughProxy{})
	runLesson(t, s, map[string]want{
		"Directly: the server reports the client certificate": {0, []string{"X-Client-Cert: success"}},
		"Through the inspecting proxy (trusting its CA)":      {0, []string{"X-Client-Cert: absent"}},
		"...and a server that requires one refuses the proxy": {0, []string{"HTTP/1.1 502", "certificate required"}},
		"Who the client is really talking TLS with":           {0, []string{"issuer=O = chaoslab, CN = chaoslab mitm root CA"}},
		"The fix, mTLS through a CONNECT tunnel":              {0, []string{"X-Client-Cert: success"}},
		"Two-hop: the server sees the proxy's certificate":    {0, []string{"X-Client-Cert: failed", `"client_cert_issuer":"CN=chaoslab egress proxy client CA`}},
	})
	closeAndCheckNothingLeft(t, s)
}

func TestRealClientsLoadThroughProxy(t *testing.T) {
	s := labWithSetup(t, &loadThroughProxy{})
	runLesson(t, s, map[string]want{
		"Phase timings of one request through the inspecting proxy": {0, []string{`{"code":200,`, `"tls":`}},
		"...and through the tunnel":                                 {0, []string{`{"code":200,`}},
		"The second-fastest tls of twenty fresh connections":        {0, []string{`"tls":`}},
	})
	closeAndCheckNothingLeft(t, s)
}

// labWithSetup starts a lab and runs a scenario's Setup on it, as Execute
// does, without running its phases.
func labWithSetup(t *testing.T, play Play) *S {
	t.Helper()
	for tool, pkg := range map[string]string{"curl": "curl", "openssl": "openssl", "bash": "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH: apt-get install %s", tool, pkg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := lab.New(ctx, lab.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &S{Ctx: ctx, Lab: l, rec: &reports.Scenario{}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("setup: %v", r)
			}
		}()
		play.Setup(s)
	}()
	return s
}

// runLesson runs every command the lesson lists; each must have an entry
// in wants (by title prefix), so a command added to a lesson is a command
// checked here.
func runLesson(t *testing.T, s *S, wants map[string]want) {
	t.Helper()
	used := map[string]bool{}
	for _, c := range s.cmds {
		var w *want
		for prefix, ww := range wants {
			if strings.HasPrefix(c.Title, prefix) {
				w, used[prefix] = &ww, true
				break
			}
		}
		if w == nil {
			t.Errorf("lesson command %q has no expectation here:\n%s", c.Title, c.Cmd)
			continue
		}
		out, code := shell(t, c.Cmd)
		ok := code == w.exit || w.exit == -1 && code != 0
		for _, s := range w.contains {
			ok = ok && strings.Contains(out, s)
		}
		if !ok {
			t.Errorf("%s\n$ %s\nwant exit %d and %q, got exit %d:\n%s", c.Title, c.Cmd, w.exit, w.contains, code, out)
		}
	}
	for prefix := range wants {
		if !used[prefix] {
			t.Errorf("no lesson command titled %q...", prefix)
		}
	}
}

// shell runs a lesson command the way a trainee pastes it, without the
// environment's proxy settings (NO_PROXY would make curl skip the lab's
// proxy for localhost).
func shell(t *testing.T, cmd string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-c", cmd)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(strings.ToLower(k), "_proxy") {
			c.Env = append(c.Env, kv)
		}
	}
	c.Dir = t.TempDir() // a command that writes a relative file writes it here
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("timed out: %s\n%s", cmd, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out), 0
}

// closeAndCheckNothingLeft closes the lab and checks that every file it
// held (private keys, certificates, the proxies' CAs) and its directory are
// gone.
func closeAndCheckNothingLeft(t *testing.T, s *S) {
	t.Helper()
	var files []string
	_ = filepath.WalkDir(s.Lab.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	var keys int
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			keys++
		}
	}
	if keys == 0 || len(files) < 3 {
		t.Fatalf("expected the lab to hold keys and certificates before Close, found %v", files)
	}
	if err := s.Lab.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, s.Lab.Dir()) {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s outlived the lab (stat: %v)", f, err)
		}
	}
}
