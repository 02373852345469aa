package metricsserver

import (
	"bytes"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Image is the metrics-server release the in-cluster manifest runs (the same
// version scripts/k8s-tools.sh builds for kwok).
const Image = "registry.k8s.io/metrics-server/metrics-server:v0.8.0"

// InClusterArgs are the flags of the in-cluster Deployment: upstream's
// components.yaml plus --kubelet-insecure-tls (kind's kubelets serve
// self-signed certificates) and the 10 s minimum resolution (time compression).
func InClusterArgs() []string {
	return []string{
		"--cert-dir=/tmp",
		"--secure-port=10250",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--kubelet-use-node-status-port",
		"--metric-resolution=10s",
		"--kubelet-insecure-tls",
	}
}

// Manifest is metrics-server v0.8.0's components.yaml as objects, with
// InClusterArgs: ServiceAccount, RBAC, Service, Deployment and the APIService
// (last, unstructured: apiregistration types are not a project dependency).
func Manifest(image string) []runtime.Object {
	if image == "" {
		image = Image
	}
	labels := map[string]string{"k8s-app": "metrics-server"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: labels}
	}
	cluster := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Labels: labels} }
	sa := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "metrics-server", Namespace: "kube-system"}}
	nonRoot, readOnly, noEscalation := true, true, false
	uid := int64(1000)
	return []runtime.Object{
		&corev1.ServiceAccount{TypeMeta: tm("v1", "ServiceAccount"), ObjectMeta: meta("metrics-server")},
		&rbacv1.ClusterRole{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"),
			ObjectMeta: metav1.ObjectMeta{Name: "system:aggregated-metrics-reader", Labels: map[string]string{
				"k8s-app": "metrics-server", "rbac.authorization.k8s.io/aggregate-to-admin": "true",
				"rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-view": "true",
			}},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}}},
		},
		&rbacv1.ClusterRole{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: cluster("system:metrics-server"),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: meta("metrics-server-auth-reader"),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "extension-apiserver-authentication-reader"},
			Subjects: sa,
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: cluster("metrics-server:system:auth-delegator"),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
			Subjects: sa,
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: cluster("system:metrics-server"),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:metrics-server"},
			Subjects: sa,
		},
		&corev1.Service{
			TypeMeta: tm("v1", "Service"), ObjectMeta: meta("metrics-server"),
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("https")}},
			},
		},
		&appsv1.Deployment{
			TypeMeta: tm("apps/v1", "Deployment"), ObjectMeta: meta("metrics-server"),
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptrIntStr(intstr.FromInt32(0))}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						ServiceAccountName: "metrics-server",
						PriorityClassName:  "system-cluster-critical",
						NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
						Volumes:            []corev1.Volume{{Name: "tmp-dir", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
						Containers: []corev1.Container{{
							Name:            "metrics-server",
							Image:           image,
							ImagePullPolicy: corev1.PullIfNotPresent,
							Args:            InClusterArgs(),
							Ports:           []corev1.ContainerPort{{Name: "https", ContainerPort: 10250, Protocol: corev1.ProtocolTCP}},
							Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
								corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("200Mi"),
							}},
							ReadinessProbe: &corev1.Probe{
								ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}},
								InitialDelaySeconds: 5, PeriodSeconds: 5, FailureThreshold: 3,
							},
							LivenessProbe: &corev1.Probe{
								ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/livez", Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}},
								PeriodSeconds: 10, FailureThreshold: 3,
							},
							SecurityContext: &corev1.SecurityContext{
								AllowPrivilegeEscalation: &noEscalation,
								ReadOnlyRootFilesystem:   &readOnly,
								RunAsNonRoot:             &nonRoot,
								RunAsUser:                &uid,
								Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
								SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
							},
							VolumeMounts: []corev1.VolumeMount{{Name: "tmp-dir", MountPath: "/tmp"}},
						}},
					},
				},
			},
		},
		inClusterAPIService(),
	}
}

func inClusterAPIService() runtime.Object {
	u := APIService(443)
	delete(u.Object["spec"].(map[string]any)["service"].(map[string]any), "port")
	return u
}

func tm(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func ptrIntStr(v intstr.IntOrString) *intstr.IntOrString { return &v }

// ManifestYAML renders Manifest as one multi-document YAML, for `kubectl apply -f`
// by hand and for review.
func ManifestYAML(image string) ([]byte, error) {
	var buf bytes.Buffer
	for i, obj := range Manifest(image) {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("metrics-server manifest: %w", err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
