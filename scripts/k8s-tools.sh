#!/usr/bin/env bash
# k8s-tools.sh builds the Kubernetes control plane the kwok cluster provider runs
# (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, kwokctl,
# metrics-server) from Go modules, because no release binary can be downloaded here,
# plus what the node provider adds: the kubelet (same module) and the pause binary
# (gcc, from the k8s.io/kubernetes module source). As root on Debian it installs the
# node's packages when missing (containerd, runc, CNI plugins, iptables, conntrack,
# iproute2, gcc, libc6-dev).
#
# Output: ${CHAOSLAB_CACHE:-$HOME/.cache/chaoslab}/k8s-tools/<key>/ where <key> hashes the
# tools modules' go.mod/go.sum, this script's build recipe and the Go version, so any
# version bump rebuilds into a fresh directory. Binaries already there are skipped; each
# one is built into a temp dir and renamed into place, so an interrupted run never leaves
# a half-written binary. The directory path is the LAST line of stdout; progress and the
# elapsed time go to stderr.
#
# Usage: scripts/k8s-tools.sh            # build what is missing, print the directory
#        scripts/k8s-tools.sh --print-dir # print the directory only (no build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${root}/tools/k8s"
start="$(date +%s)"

# The versions the binaries must report: kwokctl and kubectl compare them, and a
# kube-apiserver built without these ldflags reports v0.0.0-master.
KUBE_VERSION="v1.34.4"
KUBE_BUILD_DATE="2026-02-10T12:53:36Z" # k8s.io/kubernetes v1.34.4 module time: reproducible builds
METRICS_SERVER_VERSION="v0.8.0"
KWOK_VERSION="0.8.0"

kube_ldflags() {
	local flags="-s -w" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X ${pkg}.gitVersion=${KUBE_VERSION}"
		flags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=34"
		flags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${KUBE_BUILD_DATE}"
	done
	echo "${flags}"
}

# name|module dir|package|ldflags
recipe() {
	local k
	k="$(kube_ldflags)"
	echo "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|${k}"
	echo "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|${k}"
	echo "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|${k}"
	echo "kubelet|kubernetes|k8s.io/kubernetes/cmd/kubelet|${k}"
	echo "etcd|kubernetes|go.etcd.io/etcd/server/v3|-s -w"
	echo "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
	echo "kwokctl|kwok|sigs.k8s.io/kwok/cmd/kwokctl|-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
	echo "metrics-server|metrics-server|sigs.k8s.io/metrics-server/cmd/metrics-server|-s -w -X k8s.io/client-go/pkg/version.gitVersion=${METRICS_SERVER_VERSION} -X k8s.io/component-base/version.gitVersion=${METRICS_SERVER_VERSION}"
}

# pause (the pod sandbox's process) is C: build/pause/linux/pause.c of the
# k8s.io/kubernetes module, linked statically.
PAUSE_VERSION="3.10.1"
pause_recipe() { echo "pause|gcc -Os -static -DVERSION=v${PAUSE_VERSION}-chaoslab build/pause/linux/pause.c"; }

cache_key() {
	{
		recipe
		pause_recipe
		go env GOVERSION GOOS GOARCH
		(cd "${tools}" && for f in */go.mod */go.sum; do echo "== ${f}"; cat "${f}"; done)
	} | sha256sum | cut -c1-16
}

dir="${CHAOSLAB_CACHE:-${HOME}/.cache/chaoslab}/k8s-tools/$(cache_key)"
if [[ "${1:-}" == "--print-dir" ]]; then
	echo "${dir}"
	exit 0
fi
mkdir -p "${dir}"

# Two concurrent runs (two terminals, CI retries) would build the same binaries twice;
# the lock serialises them and the second one finds everything built.
if command -v flock >/dev/null; then
	exec 9>"${dir}.lock"
	flock 9
fi
# Holding the lock, any .build-* dir is left over from a run that was killed.
rm -rf "${dir}"/.build-*

# metrics-server v0.8.0 is not in the public checksum database (the lookup answers 404);
# its hashes are pinned in tools/k8s/metrics-server/go.sum instead.
export GONOSUMDB="${GONOSUMDB:+${GONOSUMDB},}sigs.k8s.io/metrics-server"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+${GOFLAGS} }-mod=mod"

# The node provider's Debian packages (the kwok provider needs none of them).
node_packages() {
	local missing=() p
	for p in containerd runc containernetworking-plugins iptables conntrack iproute2 gcc libc6-dev; do
		dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q "install ok installed" || missing+=("${p}")
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
		echo "k8s-tools: the node cluster provider needs these Debian packages: ${missing[*]} (install them as root)" >&2
		return 0
	fi
	echo "k8s-tools: installing ${missing[*]}" >&2
	# Another apt run (a CI step, a colleague) may hold the lock: wait for it.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2
}
if command -v dpkg-query >/dev/null; then
	node_packages
fi

built=0
while IFS='|' read -r name module pkg ldflags; do
	if [[ -x "${dir}/${name}" ]]; then
		continue
	fi
	echo "k8s-tools: building ${name} (${pkg})" >&2
	tmp="$(mktemp -d "${dir}/.build-${name}.XXXXXX")"
	trap 'rm -rf "${tmp}"' EXIT
	t0="$(date +%s)"
	(cd "${tools}/${module}" && go build -trimpath -ldflags="${ldflags}" -o "${tmp}/${name}" "${pkg}")
	mv -f "${tmp}/${name}" "${dir}/${name}"
	rm -rf "${tmp}"
	trap - EXIT
	echo "k8s-tools: built ${name} in $(($(date +%s) - t0))s" >&2
	built=$((built + 1))
done < <(recipe)

if [[ ! -x "${dir}/pause" ]]; then
	if command -v gcc >/dev/null; then
		echo "k8s-tools: building pause (gcc, k8s.io/kubernetes module source)" >&2
		src="$(cd "${tools}/kubernetes" && go mod download -json k8s.io/kubernetes | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
		tmp="$(mktemp -d "${dir}/.build-pause.XXXXXX")"
		trap 'rm -rf "${tmp}"' EXIT
		gcc -Os -static -DVERSION="v${PAUSE_VERSION}-chaoslab" -o "${tmp}/pause" "${src}/build/pause/linux/pause.c"
		mv -f "${tmp}/pause" "${dir}/pause"
		rm -rf "${tmp}"
		trap - EXIT
		built=$((built + 1))
	else
		echo "k8s-tools: no gcc: pause (for the node provider) not built; install gcc and libc6-dev" >&2
	fi
fi

# A wrong version is the failure mode that only shows later (kwokctl refusing the
# cluster), so check what the binaries report now.
"${dir}/kube-apiserver" --version 2>&1 | grep -q "Kubernetes ${KUBE_VERSION}$" ||
	{ echo "k8s-tools: kube-apiserver does not report ${KUBE_VERSION}: $("${dir}/kube-apiserver" --version 2>&1)" >&2; exit 1; }

total=$(($(recipe | wc -l) + 1))
echo "k8s-tools: ${built} built, $((total - built)) cached, took $(($(date +%s) - start))s" >&2
echo "${dir}"
