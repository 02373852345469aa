package kwokctl

import (
	"strings"
	"testing"
)

func TestYAMLPassesBinariesLoopbackAndHPAFlags(t *testing.T) {
	c := Config{Name: "x", ToolsDir: "/tools", WorkDir: "/work", KubeVersion: "v1.34.4", ControllerManagerArgs: HPAControllerManagerArgs()}
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	t.Log("\n" + s)
	for _, want := range []string{
		"kind: KwokctlConfiguration",
		"apiVersion: config.kwok.x-k8s.io/v1alpha1",
		"runtime: binary",
		"bindAddress: 127.0.0.1",
		"kubeApiserverBinary: /tools/kube-apiserver",
		"kubeControllerManagerBinary: /tools/kube-controller-manager",
		"kubeSchedulerBinary: /tools/kube-scheduler",
		"etcdBinary: /tools/etcd",
		"kwokControllerBinary: /tools/kwok",
		"cacheDir: /work/cache",
		"- Metric\n",
		"- ClusterResourceUsage\n",
		"name: kube-controller-manager",
		"key: horizontal-pod-autoscaler-sync-period\n    value: 1s",
		"key: horizontal-pod-autoscaler-cpu-initialization-period",
		"key: horizontal-pod-autoscaler-initial-readiness-delay",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	if strings.Contains(s, "0.0.0.0") {
		t.Error("config binds beyond loopback")
	}
}

func TestYAMLRequiresPaths(t *testing.T) {
	if _, err := (Config{Name: "x"}).YAML(); err == nil {
		t.Fatal("want an error without ToolsDir/WorkDir/KubeVersion")
	}
}

func TestUsageObjectsParse(t *testing.T) {
	objs, err := UsageObjects()
	if err != nil {
		t.Fatal(err)
	}
	m := objs[MetricGVR]
	if m.GetKind() != "Metric" || m.GetName() != "metrics-resource" {
		t.Errorf("metric object: %s %s", m.GetKind(), m.GetName())
	}
	u := objs[ClusterResourceUsageGVR]
	if u.GetKind() != "ClusterResourceUsage" {
		t.Errorf("usage object kind %s", u.GetKind())
	}
	if !strings.Contains(toString(u.Object), "kwok.x-k8s.io/usage-cpu") {
		t.Error("usage object does not read the usage-cpu annotation")
	}
}

func toString(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			b.WriteString(x + "\n")
		}
	}
	walk(v)
	return b.String()
}
