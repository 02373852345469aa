// Package kindconfig renders the kind cluster configuration the lab uses.
package kindconfig

import (
	"sort"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// Config is what the lab varies in a kind cluster.
type Config struct {
	Name    string
	Workers int // worker nodes besides the control plane
	// ControllerManagerArgs go to kube-controller-manager through a kubeadm
	// ClusterConfiguration patch (kind v0.30 generates kubeadm v1beta3, whose
	// extraArgs is a map).
	ControllerManagerArgs map[string]string
}

// Cluster builds the v1alpha4 config. The API server listens on loopback only.
func (c Config) Cluster() *v1alpha4.Cluster {
	cl := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     c.Name,
		Networking: v1alpha4.Networking{
			APIServerAddress: "127.0.0.1",
		},
		Nodes: []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}},
	}
	for i := 0; i < c.Workers; i++ {
		cl.Nodes = append(cl.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	if len(c.ControllerManagerArgs) > 0 {
		keys := make([]string, 0, len(c.ControllerManagerArgs))
		for k := range c.ControllerManagerArgs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("kind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n")
		for _, k := range keys {
			b.WriteString("    " + k + ": \"" + c.ControllerManagerArgs[k] + "\"\n")
		}
		cl.KubeadmConfigPatches = append(cl.KubeadmConfigPatches, b.String())
	}
	return cl
}

// YAML renders Cluster for kind's CreateWithRawConfig (and for a user's
// `kind create cluster --config`).
func (c Config) YAML() ([]byte, error) {
	return yaml.Marshal(c.Cluster())
}
