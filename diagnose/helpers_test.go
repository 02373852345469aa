package diagnose

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/pki"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// labServer serves HTTPS with a lab hierarchy built from flags.
func labServer(t *testing.T, flags pki.ServerTLSFlags) (*httptest.Server, *pki.ServerTLS) {
	t.Helper()
	flags.Enabled = true
	s, err := flags.BuildServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return serveTLS(t, s.Config, s), s
}

func serveTLS(t *testing.T, cfg *tls.Config, s *pki.ServerTLS) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := "absent"
		if s != nil {
			st, _ = s.ClientCertStatus(r)
		}
		fmt.Fprintf(w, "client cert %s\n", st)
	}))
	srv.TLS = cfg
	// Handshakes the clients reject are the point of these tests.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		if s != nil {
			_ = s.Files.Remove()
		}
	})
	return srv
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// needTool skips when a real client is not installed, naming the package.
func needTool(t *testing.T, tool, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not on PATH: apt-get install %s", tool, debianPackage)
	}
}

// shell runs a rendered command line with bash under a timeout.
func shell(t *testing.T, line string) (string, int) {
	t.Helper()
	needTool(t, "bash", "bash")
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(c, "bash", "-c", line).CombinedOutput()
	if c.Err() != nil {
		t.Fatalf("timed out: %s\n%s", line, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return string(out), code
}
