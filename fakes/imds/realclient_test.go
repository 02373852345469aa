package imds

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// botocoreScript loads instance-role credentials the way every boto3/awscli
// process does (the session's "iam-role" provider, endpoint from
// AWS_EC2_METADATA_SERVICE_ENDPOINT), asks for them argv[1] more times as
// each API call would, and prints what it holds.
const botocoreScript = `
import json, sys
import botocore, botocore.session
s = botocore.session.get_session()
c = s.get_component('credential_provider').get_provider('iam-role').load()
if c is None:
    sys.exit("botocore got no credentials from the metadata service")
for _ in range(int(sys.argv[1])):
    c.get_frozen_credentials()
print(json.dumps({"access_key": c.access_key, "expiry": c._expiry_time.isoformat(), "version": botocore.__version__}))
`

// botocorePython finds a Python that can import botocore: Debian's
// /usr/bin/python3 (package python3-botocore), python3 on PATH, or the
// interpreter an installed aws CLI (package awscli) runs on.
func botocorePython() string {
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	if aws, err := exec.LookPath("aws"); err == nil {
		if f, err := os.Open(aws); err == nil {
			line, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if strings.HasPrefix(line, "#!") {
				if fields := strings.Fields(strings.TrimPrefix(line, "#!")); len(fields) > 0 {
					cands = append(cands, fields[len(fields)-1])
				}
			}
		}
	}
	for _, py := range cands {
		if exec.Command(py, "-c", "import botocore.session").Run() == nil {
			return py
		}
	}
	return ""
}

type botocoreResult struct {
	AccessKey string `json:"access_key"`
	Expiry    string `json:"expiry"`
	Version   string `json:"version"`
}

func runBotocore(t *testing.T, py string, s *Server, extraCalls int) botocoreResult {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", botocoreScript, strconv.Itoa(extraCalls))
	// A clean environment: no keys, profiles or container credentials that
	// would win over the instance role, and no endpoint but the fake's.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + s.URL(),
		"NO_PROXY=*",
	}
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s%s", py, err, out, stderr)
	}
	var r botocoreResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("botocore printed %q: %v", out, err)
	}
	return r
}

func TestRealBotocore(t *testing.T) {
	py := botocorePython()
	if py == "" {
		t.Skip("real-client check skipped: install Debian package python3-botocore (or awscli)")
	}
	t.Run("6h credentials keep their Expiration", func(t *testing.T) {
		s := start(t, Config{TTL: 6 * time.Hour, IMDSv2Required: true})
		r := runBotocore(t, py, s, 0)
		exp, err := time.Parse(time.RFC3339, r.Expiry)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Now().Add(6 * time.Hour); !within(exp, want) {
			t.Fatalf("botocore %s holds expiry %s, want now+6h = %s", r.Version, exp, want)
		}
		if !strings.HasPrefix(r.AccessKey, "ASIA") || s.Calls()[TokenPath] != 1 {
			t.Fatalf("botocore %s: key %q, calls %v (want IMDSv2: one token PUT)", r.Version, r.AccessKey, s.Calls())
		}
	})
	// 15-minute credentials: old botocore refreshed on every call (kiam
	// issue 270, 15 min advisory window); botocore with the "expiration
	// extension" stretches credentials that expire within 12-20 (here
	// 17-25) minutes to now+that, so it stops refreshing. Either is a
	// consistent botocore; anything else is a fake that lies.
	t.Run("15m credentials", func(t *testing.T) {
		s := start(t, Config{TTL: 15 * time.Minute})
		const calls = 20
		r := runBotocore(t, py, s, calls)
		exp, err := time.Parse(time.RFC3339, r.Expiry)
		if err != nil {
			t.Fatal(err)
		}
		left := time.Until(exp)
		fetches := s.CredentialFetches()
		t.Logf("botocore %s with 15m credentials: holds expiry now+%s, %d credential fetches for 1+%d uses",
			r.Version, left.Round(time.Second), fetches, calls)
		switch {
		case fetches == 1 && left >= 17*time.Minute-2*time.Second && left <= 25*time.Minute+2*time.Second:
			// extended, no storm
		case fetches >= calls && within(exp, time.Now().Add(15*time.Minute)):
			// not extended: refresh on every use
		default:
			t.Fatalf("inconsistent: expiry now+%s with %d fetches", left, fetches)
		}
	})
}
