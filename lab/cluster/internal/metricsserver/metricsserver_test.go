package metricsserver

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestArgsBindLoopbackAndSkipKubeletTLS(t *testing.T) {
	args := Config{Kubeconfig: "/k", CertFile: "/c", KeyFile: "/key"}.Args(4443)
	for _, want := range []string{
		"--bind-address=127.0.0.1", "--secure-port=4443", "--kubeconfig=/k", "--authentication-kubeconfig=/k",
		"--authorization-kubeconfig=/k", "--tls-cert-file=/c", "--tls-private-key-file=/key",
		"--kubelet-insecure-tls", "--kubelet-use-node-status-port", "--metric-resolution=10s",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s: %v", want, args)
		}
	}
	// metrics-server refuses a kubelet timeout above 90% of the resolution.
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--kubelet-request-timeout="); ok {
			d, err := time.ParseDuration(v)
			if err != nil || d > 9*time.Second {
				t.Errorf("kubelet-request-timeout %s", v)
			}
		}
	}
}

func TestAPIServicePointsAtTheExternalNameService(t *testing.T) {
	a := APIService(1234)
	svc := Service()
	if a.GetName() != APIServiceName {
		t.Errorf("name %s", a.GetName())
	}
	spec := a.Object["spec"].(map[string]any)
	ref := spec["service"].(map[string]any)
	if ref["name"] != svc.Name || ref["namespace"] != svc.Namespace || ref["port"] != int64(1234) {
		t.Errorf("service ref %v", ref)
	}
	if spec["group"] != "metrics.k8s.io" || spec["version"] != "v1beta1" || spec["insecureSkipTLSVerify"] != true {
		t.Errorf("spec %v", spec)
	}
	if svc.Spec.Type != "ExternalName" || svc.Spec.ExternalName != "127.0.0.1" {
		t.Errorf("service %+v", svc.Spec)
	}
}
