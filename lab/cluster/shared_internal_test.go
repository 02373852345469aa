package cluster

import (
	"testing"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/node"
)

func TestTenantNamesAndSelectsItsOwnNodes(t *testing.T) {
	base := &Cluster{Name: "run-1", Provider: "kwok", impl: attached{}}
	kw := &Cluster{Provider: "kwok", Namespace: "pending-pods-0042", impl: &tenant{base: base, ns: "pending-pods-0042", isolate: true}}
	if got := kw.NodeName("node-2"); got != "pending-pods-0042-node-2" {
		t.Errorf("NodeName on a kwok tenant: %q", got)
	}
	if sel := kw.NodeSelector(); sel[LabelTenant] != "pending-pods-0042" || len(sel) != 1 {
		t.Errorf("NodeSelector on a kwok tenant: %v", sel)
	}
	if _, ok := kw.backend().(attached); !ok {
		t.Errorf("a tenant's backend is its base's, got %T", kw.backend())
	}
	// On the node provider tenants take turns on the one real node: names as given.
	nd := &Cluster{Provider: "node", impl: &tenant{base: &Cluster{Provider: "node"}, ns: "x"}}
	if nd.NodeName(NodeName) != NodeName || nd.NodeSelector() != nil {
		t.Errorf("node tenant: NodeName %q, NodeSelector %v", nd.NodeName(NodeName), nd.NodeSelector())
	}
	own := &Cluster{Provider: "kwok", impl: &kwokCluster{}}
	if own.NodeName("node-1") != "node-1" || own.NodeSelector() != nil {
		t.Errorf("a cluster of its own: NodeName %q, NodeSelector %v", own.NodeName("node-1"), own.NodeSelector())
	}

	n, err := kwokNode(NodeSpec{Name: "t-node-1", CPU: "1", Memory: "1Gi", Labels: map[string]string{LabelTenant: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels[LabelTenant] != "t" || n.Labels["type"] != "kwok" {
		t.Errorf("labels %v", n.Labels)
	}
}

func TestSameShape(t *testing.T) {
	a := node.KubeletConfig{MaxPods: 10}
	b := node.KubeletConfig{MaxPods: 10, Reserved: map[string]string{}}
	if !sameShape(a, b) {
		t.Error("nil and empty reservations differ")
	}
	b.Reserved["cpu"] = "1850m"
	if sameShape(a, b) {
		t.Error("a CPU reservation makes no difference")
	}
	if sameShape(node.KubeletConfig{MaxPods: 10}, node.KubeletConfig{MaxPods: 4}) {
		t.Error("maxPods makes no difference")
	}
}
