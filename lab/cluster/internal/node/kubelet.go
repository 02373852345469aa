package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// KubeletConfig is what differs between runs.
type KubeletConfig struct {
	Binary     string
	NodeName   string
	Server     string // apiserver URL as seen inside the netns, https://127.0.0.1:PORT
	CACert     string // the cluster CA (signs the kubelet's client cert, verifies clients)
	CAKey      string
	MaxPods    int               // 0: 110
	Reserved   map[string]string // kubeReserved, e.g. {"cpu": "1500m"}: shrinks allocatable
	ExtraFlags []string
}

// SignClientCert writes a client certificate and key for the kubelet
// (CN=system:node:NAME, O=system:nodes: the Node authorizer and NodeRestriction
// admission know it as that node) signed by the cluster CA.
func SignClientCert(caCert, caKey, cn string, orgs []string, certOut, keyOut string) error {
	pair, err := tls.LoadX509KeyPair(caCert, caKey)
	if err != nil {
		return fmt.Errorf("cluster CA %s: %w", caCert, err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, pair.PrivateKey)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyOut, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// Kubeconfig renders a client-certificate kubeconfig.
func Kubeconfig(server, ca, cert, key string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: lab
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: lab
  context: {cluster: lab, user: lab}
current-context: lab
`, server, ca, cert, key)
}

// KubeletConfiguration renders the kubelet's config file (facts/real-node.md).
func (e *Env) KubeletConfiguration(c KubeletConfig) string {
	maxPods := c.MaxPods
	if maxPods == 0 {
		maxPods = 110
	}
	var reserved strings.Builder
	if len(c.Reserved) > 0 {
		keys := make([]string, 0, len(c.Reserved))
		for k := range c.Reserved {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		reserved.WriteString("kubeReserved:\n")
		for _, k := range keys {
			fmt.Fprintf(&reserved, "  %s: %q\n", k, c.Reserved[k])
		}
	}
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: %[1]s
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%[2]s
readOnlyPort: 0
address: %[3]s
healthzBindAddress: 127.0.0.1
healthzPort: 0
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%%
  imagefs.available: 2%%
serializeImagePulls: false
resolvConf: %[4]s
maxPods: %[5]d
# Allocatable (kubeReserved) shapes what the scheduler sees, not the pods'
# cgroup: with "pods" enforced a 150m node gets cpu.shares 153 and its pods
# starve on a shared, loaded machine.
enforceNodeAllocatable: ["none"]
%[6]sauthentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 10s}
  x509: {clientCAFile: %[7]s}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 10s, cacheUnauthorizedTTL: 5s}
nodeStatusUpdateFrequency: 2s
syncFrequency: 5s
`, e.CgroupRoot, e.ContainerdSocket(), NodeIP, filepath.Join(e.Dir, "resolv.conf"), maxPods, reserved.String(), c.CACert)
}

// StartKubelet signs the kubelet's client certificate, writes its kubeconfig
// and config, and starts it. The node registers itself; wait for Ready with
// the API.
func (e *Env) StartKubelet(c KubeletConfig) (*Daemon, error) {
	dir := filepath.Join(e.Dir, "kubelet")
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o755); err != nil {
		return nil, err
	}
	cert, key := filepath.Join(dir, "pki", "client.crt"), filepath.Join(dir, "pki", "client.key")
	if err := SignClientCert(c.CACert, c.CAKey, "system:node:"+c.NodeName, []string{"system:nodes"}, cert, key); err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(Kubeconfig(c.Server, c.CACert, cert, key)), 0o600); err != nil {
		return nil, err
	}
	// Pods copy it; the host's nameserver is unreachable from the netns.
	if err := os.WriteFile(filepath.Join(e.Dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(conf, []byte(e.KubeletConfiguration(c)), 0o644); err != nil {
		return nil, err
	}
	argv := []string{c.Binary,
		"--config=" + conf,
		"--kubeconfig=" + kc,
		"--hostname-override=" + c.NodeName,
		"--node-ip=" + NodeIP,
		"--root-dir=" + filepath.Join(dir, "root"),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--v=1",
	}
	argv = append(argv, c.ExtraFlags...)
	return e.StartDaemon("kubelet", argv...)
}

// Port is the kubelet's secure port (its default).
const KubeletPort = 10250
