package upstream

import (
	"errors"
	"os"
)

// buildTLS makes the certificates the TLS flags ask for and fills in the
// server side of cfg. The CLI prints the Info lines so a user knows which CA
// to trust: `ca: <path>` (and the client certificate for mTLS). The returned
// cleanup removes every file written, and the directory if buildTLS made it.
func buildTLS(cfg *Config) (cleanup func() error, err error) {
	dir, madeDir := cfg.CertDir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "chaoslab-upstream-"); err != nil {
			return nil, err
		}
		madeDir = true
	}
	removeDir := func() error {
		if madeDir {
			return os.RemoveAll(dir)
		}
		return nil
	}
	st, err := cfg.TLSFlags.BuildServer(dir)
	if err != nil {
		_ = removeDir()
		return nil, err
	}
	cfg.TLS = st.Config
	if cfg.Info == nil {
		cfg.Info = map[string]string{}
	}
	cfg.Info["ca"] = st.CAPath
	if st.Client != nil {
		cfg.ClientCertStatus = st.ClientCertStatus
		cfg.Info["client-cert"], cfg.Info["client-key"] = st.ClientPaths.Cert, st.ClientPaths.Key
	}
	return func() error { return errors.Join(st.Files.Remove(), removeDir()) }, nil
}
