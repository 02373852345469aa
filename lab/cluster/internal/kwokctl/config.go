// Package kwokctl drives `kwokctl --runtime binary`: it renders the cluster
// configuration and runs create/delete with the locally built binaries.
//
// The configuration types are a subset of sigs.k8s.io/kwok's
// config.kwok.x-k8s.io/v1alpha1 KwokctlConfiguration (kwok v0.8.0), written out
// here because kwok's own module needs Kubernetes 0.36 libraries and the project
// builds against 0.34.
package kwokctl

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"

	"sigs.k8s.io/yaml"
)

// Config is one kwok cluster.
type Config struct {
	Name        string // kwokctl cluster name
	ToolsDir    string // directory with the binaries scripts/k8s-tools.sh built
	WorkDir     string // KWOK_WORKDIR: everything kwokctl writes goes under it
	KubeVersion string // version the binaries report, e.g. v1.34.4
	// ControllerManagerArgs are extra kube-controller-manager flags (without "--").
	ControllerManagerArgs map[string]string
	// APIServerArgs are extra kube-apiserver flags (without "--").
	APIServerArgs map[string]string
	// KwokControllerArgs are extra kwok controller flags (without "--").
	KwokControllerArgs map[string]string
	// Wrap is a command prefix kwokctl runs under (the node provider's nsenter
	// into the run's namespaces); the components it starts inherit them.
	Wrap []string
}

// HPAControllerManagerArgs compress the horizontal-pod-autoscaler controller's
// clocks from minutes to seconds, so a lab sees a reaction within one scrape of
// metrics-server instead of after the 15 s sync, 5 min CPU initialization and
// 30 s readiness delay defaults (facts/kubernetes.md). The per-HPA `behavior`
// field sets the stabilization windows.
func HPAControllerManagerArgs() map[string]string {
	return map[string]string{
		"horizontal-pod-autoscaler-sync-period":               "1s",
		"horizontal-pod-autoscaler-cpu-initialization-period": "5s",
		"horizontal-pod-autoscaler-initial-readiness-delay":   "1s",
		// Only used by an HPA without behavior.scaleDown (default 5 min).
		"horizontal-pod-autoscaler-downscale-stabilization": "5s",
	}
}

// Kinds the kwok controller watches as custom resources instead of reading them
// from its config file: the lab creates the simulated-usage objects through the
// API after the cluster is up (kwokctl only puts them in the config file when it
// runs metrics-server itself, which would need a downloaded manifest).
var enabledCRDs = []string{"Metric", "ClusterResourceUsage"}

type kwokctlConfiguration struct {
	APIVersion        string             `json:"apiVersion"`
	Kind              string             `json:"kind"`
	Options           options            `json:"options"`
	ComponentsPatches []componentPatches `json:"componentsPatches,omitempty"`
}

type options struct {
	Runtime                     string   `json:"runtime"`
	KubeVersion                 string   `json:"kubeVersion"`
	BindAddress                 string   `json:"bindAddress"`
	CacheDir                    string   `json:"cacheDir"`
	EnableCRDs                  []string `json:"enableCRDs"`
	DisableQPSLimits            bool     `json:"disableQPSLimits"`
	KubeApiserverBinary         string   `json:"kubeApiserverBinary"`
	KubeControllerManagerBinary string   `json:"kubeControllerManagerBinary"`
	KubeSchedulerBinary         string   `json:"kubeSchedulerBinary"`
	EtcdBinary                  string   `json:"etcdBinary"`
	KwokControllerBinary        string   `json:"kwokControllerBinary"`
}

type componentPatches struct {
	Name      string      `json:"name"`
	ExtraArgs []extraArgs `json:"extraArgs"`
}

type extraArgs struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// YAML renders the --config file for `kwokctl create cluster`.
func (c Config) YAML() ([]byte, error) {
	if c.ToolsDir == "" || c.WorkDir == "" || c.KubeVersion == "" {
		return nil, fmt.Errorf("kwokctl: ToolsDir, WorkDir and KubeVersion are required")
	}
	conf := kwokctlConfiguration{
		APIVersion: "config.kwok.x-k8s.io/v1alpha1",
		Kind:       "KwokctlConfiguration",
		Options: options{
			Runtime:     "binary",
			KubeVersion: c.KubeVersion,
			// kwokctl's default is 0.0.0.0; the lab never listens beyond loopback.
			BindAddress: "127.0.0.1",
			// kwokctl caches downloads under ~/.kwok by default; keep even its
			// (empty) cache inside the cluster's own work dir.
			CacheDir:                    filepath.Join(c.WorkDir, "cache"),
			EnableCRDs:                  enabledCRDs,
			DisableQPSLimits:            true,
			KubeApiserverBinary:         filepath.Join(c.ToolsDir, "kube-apiserver"),
			KubeControllerManagerBinary: filepath.Join(c.ToolsDir, "kube-controller-manager"),
			KubeSchedulerBinary:         filepath.Join(c.ToolsDir, "kube-scheduler"),
			EtcdBinary:                  filepath.Join(c.ToolsDir, "etcd"),
			KwokControllerBinary:        filepath.Join(c.ToolsDir, "kwok"),
		},
	}
	for _, p := range []struct {
		component string
		args      map[string]string
	}{
		{"kube-apiserver", c.APIServerArgs},
		{"kube-controller-manager", c.ControllerManagerArgs},
		{"kwok-controller", c.KwokControllerArgs},
	} {
		if len(p.args) == 0 {
			continue
		}
		conf.ComponentsPatches = append(conf.ComponentsPatches, componentPatches{Name: p.component, ExtraArgs: sortedArgs(p.args)})
	}
	out, err := yaml.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(out), nil
}

func sortedArgs(m map[string]string) []extraArgs {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]extraArgs, 0, len(keys))
	for _, k := range keys {
		out = append(out, extraArgs{Key: k, Value: m[k]})
	}
	return out
}

// ClusterDir is where kwokctl keeps one cluster's files (kubeconfig, pki, pids, logs).
func (c Config) ClusterDir() string { return filepath.Join(c.WorkDir, "clusters", c.Name) }

// KubeconfigPath is the admin kubeconfig kwokctl writes for the host.
func (c Config) KubeconfigPath() string { return filepath.Join(c.ClusterDir(), "kubeconfig.yaml") }

// PKI paths kwokctl generates; metrics-server reuses the admin pair as its serving
// and client certificate, exactly as kwokctl does when it runs metrics-server.
func (c Config) CACertPath() string    { return filepath.Join(c.ClusterDir(), "pki", "ca.crt") }
func (c Config) AdminCertPath() string { return filepath.Join(c.ClusterDir(), "pki", "admin.crt") }
func (c Config) AdminKeyPath() string  { return filepath.Join(c.ClusterDir(), "pki", "admin.key") }
