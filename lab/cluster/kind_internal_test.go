package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/metricsserver"
)

func TestKindConfig(t *testing.T) {
	raw, err := (&Kind{Workers: 2}).Config("lab").YAML()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", raw)
	var cl v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &cl); err != nil {
		t.Fatalf("kind config does not parse as v1alpha4: %v", err)
	}
	if cl.Kind != "Cluster" || cl.APIVersion != "kind.x-k8s.io/v1alpha4" || cl.Name != "lab" {
		t.Errorf("header %s %s %s", cl.APIVersion, cl.Kind, cl.Name)
	}
	if cl.Networking.APIServerAddress != "127.0.0.1" {
		t.Errorf("apiserver address %q, want loopback", cl.Networking.APIServerAddress)
	}
	if len(cl.Nodes) != 3 || cl.Nodes[0].Role != v1alpha4.ControlPlaneRole || cl.Nodes[2].Role != v1alpha4.WorkerRole {
		t.Errorf("nodes %+v", cl.Nodes)
	}
	if len(cl.KubeadmConfigPatches) != 1 {
		t.Fatalf("patches %v", cl.KubeadmConfigPatches)
	}
	// kind v0.30 generates kubeadm v1beta3, whose extraArgs is a map.
	var patch struct {
		Kind              string `json:"kind"`
		ControllerManager struct {
			ExtraArgs map[string]string `json:"extraArgs"`
		} `json:"controllerManager"`
	}
	if err := yaml.UnmarshalStrict([]byte(cl.KubeadmConfigPatches[0]), &patch); err != nil {
		t.Fatalf("kubeadm patch: %v", err)
	}
	if patch.Kind != "ClusterConfiguration" || patch.ControllerManager.ExtraArgs["horizontal-pod-autoscaler-sync-period"] != "1s" {
		t.Errorf("patch %+v", patch)
	}
	for k, v := range HPAControllerManagerArgs() {
		if patch.ControllerManager.ExtraArgs[k] != v {
			t.Errorf("patch lacks %s=%s", k, v)
		}
	}
}

func TestMetricsServerManifest(t *testing.T) {
	raw, err := metricsserver.ManifestYAML("")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{"--kubelet-insecure-tls", metricsserver.Image, "kind: APIService", "name: v1beta1.metrics.k8s.io",
		"insecureSkipTLSVerify: true", "kind: Deployment", "name: system:aggregated-metrics-reader", "extension-apiserver-authentication-reader"} {
		if !strings.Contains(s, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
	if n := strings.Count(s, "\n---\n"); n != len(metricsserver.Manifest(""))-1 {
		t.Errorf("%d document separators for %d objects", n, len(metricsserver.Manifest("")))
	}
	// Every object must be installable by applyObjects.
	for _, o := range metricsserver.Manifest("example.test/ms:v1") {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gvrOf(&unstructured.Unstructured{Object: m}); err != nil {
			t.Error(err)
		}
	}
	raw, _ = metricsserver.ManifestYAML("example.test/ms:v1")
	if !strings.Contains(string(raw), "image: example.test/ms:v1") {
		t.Error("image override not applied")
	}
}

// TestKindLoadsTheImageArchiveIntoEveryNode: kind's LoadImage path gets the
// lab-built docker-archive tar once per node (kind cannot run on the lab
// machines, so the node side is a recorder).
func TestKindLoadsTheImageArchiveIntoEveryNode(t *testing.T) {
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	if err := os.WriteFile(tarPath, []byte("archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := loadArchive([]string{"lab-control-plane", "lab-worker"}, tarPath, func(i int, f io.Reader) error {
		b, _ := io.ReadAll(f)
		got = append(got, fmt.Sprintf("%d:%s", i, b))
		return nil
	})
	if err != nil || strings.Join(got, ",") != "0:archive,1:archive" {
		t.Fatalf("loads %v, err %v", got, err)
	}
	if err := loadArchive(nil, tarPath, nil); err == nil {
		t.Error("want an error for a cluster without nodes")
	}
	if _, ok := any(&kindBackend{}).(imageLoader); !ok {
		t.Error("kind clusters must load the workload image themselves")
	}
	if _, ok := any(existingCluster{}).(imageLoader); ok {
		t.Error("existing clusters take the image from " + EnvWorkloadImage)
	}
}
