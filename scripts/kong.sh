#!/usr/bin/env bash
# kong.sh builds real Kong 3.9.1 (OpenResty 1.25.3.2 + Kong's patches and modules) from the
# unchanged upstream archives in ../shared/vendor/kong-3.9.1 plus Debian packages, offline,
# following ../shared/facts/real-kong.md: plain -O2 (no debug flags), atc-router built with
# Debian's /usr/bin/cargo against /usr/share/cargo/registry, the 40 plugins that load.
#
# Output: ${CHAOSLAB_CACHE:-$HOME/.cache/chaoslab}/kong-3.9.1-<key>/ where <key> hashes
# MANIFEST.tsv, this script and the versions of the Debian packages used. nginx and LuaJIT bake
# their prefix in, so the build happens directly in that directory (under a flock); the
# `.complete` stamp is written last and a directory without it is wiped and rebuilt.
# $P/bin/kong-env.sh exports PATH, LUA_PATH, LUA_CPATH (and KONG_* defaults) for running it;
# $P/kong-plugins.txt is the comma-separated list of plugins that load.
#
# When a Docker daemon answers it also builds image chaoslab/kong:3.9.1-local (debootstrap
# minbase + this prefix at the same path + an entrypoint), labelled with the key; an image
# failure is reported but does not fail the host build.
#
# The install directory is the LAST line of stdout; progress and elapsed times go to stderr.
#
# Usage: scripts/kong.sh              # build what is missing, print the directory
#        scripts/kong.sh --print-dir  # print the directory only (no build, no apt)
#        scripts/kong.sh --no-image   # host build only
# Env:   CHAOSLAB_KONG_SOURCES=DIR (default ../shared/vendor/kong-3.9.1 beside the project)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="${root}/scripts/kong.sh"
V="${CHAOSLAB_KONG_SOURCES:-$(cd "${root}/.." && pwd)/shared/vendor/kong-3.9.1}"
IMAGE="chaoslab/kong:3.9.1-local"
LABEL="org.chaoslab.kong.key"
start="$(date +%s.%N)"

say() { echo "kong.sh: $*" >&2; }
die() { say "$*"; exit 1; }
elapsed() { awk -v s="${start}" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2fs", e-s}'; }

# Debian packages: build, the Lua C modules Kong loads at run time, atc-router's crates.
PKGS_BUILD="build-essential perl patch libssl-dev libpcre2-dev zlib1g-dev"
PKGS_LUA="lua-yaml lua-lpeg lua-socket lua-sec lua-filesystem lua-expat lua-messagepack libsnappy1v5 libsnappy-dev"
PKGS_RUST="rustc cargo librust-pest-dev librust-pest-derive-dev librust-lazy-static-dev librust-uuid-dev
librust-regex-dev librust-fnv-dev librust-aho-corasick-dev librust-memchr-dev librust-regex-syntax-dev
librust-thiserror-dev librust-ucd-trie-dev librust-once-cell-dev librust-sha1-dev librust-sha2-dev
librust-proc-macro2-dev librust-quote-dev librust-syn-dev librust-getrandom-dev librust-serde-dev
librust-regex+default-dev"
# (librust-pest-derive+default-dev and librust-uuid+default-dev are virtual: provided by the two above)
# shellcheck disable=SC2086
PKGS="$(echo ${PKGS_BUILD} ${PKGS_LUA} ${PKGS_RUST})"
# Runtime packages of the image (debootstrap --include).
IMAGE_PKGS="ca-certificates,openssl,libssl3,libpcre2-8-0,zlib1g,perl,libsnappy1v5,libsnappy-dev,lua-yaml,lua-lpeg,lua-socket,lua-sec,lua-filesystem,lua-expat,lua-messagepack"
# Bundled plugins that fail to load from this source set (see facts/real-kong.md, "Plugins").
NOT_LOADABLE="aws-lambda ai-proxy ai-request-transformer ai-response-transformer opentelemetry"

[[ -f "${V}/MANIFEST.tsv" ]] || die "no MANIFEST.tsv in ${V} (set CHAOSLAB_KONG_SOURCES=DIR)"

# shellcheck disable=SC2086
pkg_versions() { dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' ${PKGS} 2>/dev/null || true; }

cache_key() {
	{
		cat "${V}/MANIFEST.tsv"
		cat "${self}"
		pkg_versions
	} | sha256sum | cut -c1-16
}

key="$(cache_key)"
P="${CHAOSLAB_CACHE:-${HOME}/.cache/chaoslab}/kong-3.9.1-${key}"
if [[ "${1:-}" == "--print-dir" ]]; then
	echo "${P}"
	exit 0
fi
want_image=1
[[ "${1:-}" == "--no-image" ]] && want_image=0

# ---- docker image ---------------------------------------------------------------------------
build_image() {
	command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1 || {
		say "image: skipped (no Docker daemon answers; scripts/dockerd.sh starts one)"
		return 0
	}
	local have
	have="$(docker image inspect -f "{{index .Config.Labels \"${LABEL}\"}}" "${IMAGE}" 2>/dev/null || true)"
	if [[ "${have}" == "${key}" ]]; then
		return 0
	fi
	command -v debootstrap >/dev/null || apt_install debootstrap || { say "image: debootstrap missing and could not be installed"; return 1; }
	local t0 rootfs log
	t0="$(date +%s)"
	rootfs="$(mktemp -d "${P}.rootfs.XXXXXX")"
	log="${P}.image.log"
	local rc=0
	make_image "${rootfs}" "${log}" || rc=$?
	rm -rf "${rootfs}"
	((rc == 0)) && say "image: built ${IMAGE} (label ${LABEL}=${key}) in $(($(date +%s) - t0))s"
	return "${rc}"
}

make_image() {
	local rootfs="$1" log="$2"
	say "image: debootstrap bookworm minbase (log ${log})"
	if ! timeout 900 debootstrap --variant=minbase --include="${IMAGE_PKGS}" bookworm "${rootfs}" http://deb.debian.org/debian >"${log}" 2>&1; then
		say "image: debootstrap failed: $(tail -3 "${log}" | tr '\n' ' ')"
		return 1
	fi
	mkdir -p "${rootfs}${P}"
	cp -a "${P}/." "${rootfs}${P}/"
	cp "${P}/bin/kong-env.sh" "${rootfs}/etc/kong-env.sh"
	cat >"${rootfs}/docker-entrypoint.sh" <<EOF
#!/bin/bash
# chaoslab's real Kong ${key}: like kong:3.9 (KONG_* env), DB-less by default.
set -e
. /etc/kong-env.sh
export KONG_PREFIX=\${KONG_PREFIX:-/usr/local/kong}
export KONG_NGINX_DAEMON=off KONG_NGINX_USER="root root"
export KONG_OPENRESTY_PATH="${P}/openresty"
export KONG_LUA_PACKAGE_PATH="\${KONG_LUA_PACKAGE_PATH:-\${LUA_PATH%;;}}"
export KONG_LUA_PACKAGE_CPATH="\${KONG_LUA_PACKAGE_CPATH:-\${LUA_CPATH%;;}}"
export KONG_ADMIN_GUI_LISTEN=\${KONG_ADMIN_GUI_LISTEN:-off} KONG_STATUS_LISTEN=\${KONG_STATUS_LISTEN:-off}
export KONG_ANONYMOUS_REPORTS=off KONG_PLUGINS=\${KONG_PLUGINS:-\$(cat ${P}/kong-plugins.txt)}
if [ "\$#" -eq 0 ] || [ "\$1 \$2" = "kong docker-start" ]; then
	kong prepare -p "\${KONG_PREFIX}"
	exec "${P}/openresty/nginx/sbin/nginx" -p "\${KONG_PREFIX}" -c nginx.conf
fi
exec "\$@"
EOF
	chmod +x "${rootfs}/docker-entrypoint.sh"
	rm -rf "${rootfs}/var/cache/apt/archives/"*.deb "${rootfs}/var/lib/apt/lists/"*
	if ! tar -C "${rootfs}" -c . | timeout 600 docker import \
		--change "LABEL ${LABEL}=${key}" \
		--change 'ENV KONG_PREFIX=/usr/local/kong' --change 'EXPOSE 8000 8001' \
		--change 'ENTRYPOINT ["/docker-entrypoint.sh"]' --change 'CMD ["kong","docker-start"]' \
		- "${IMAGE}" >>"${log}" 2>&1; then
		say "image: docker import failed: $(tail -3 "${log}" | tr '\n' ' ')"
		return 1
	fi
}

finish() {
	if [[ "${want_image}" == 1 ]]; then
		build_image || say "image: not built (host build is fine: ${P})"
	fi
	say "done in $(elapsed): ${P}"
	echo "${P}"
	exit 0
}

# Cached: nothing to check but the stamp (the key covers every input).
if [[ -f "${P}/.complete" ]]; then
	finish
fi

# ---- inputs ---------------------------------------------------------------------------------
apt_install() {
	[[ "$(id -u)" == 0 ]] || die "missing Debian packages $* (run as root, or: apt-get install -y $*)"
	say "apt: installing $*"
	# A fresh machine may have no package lists yet.
	timeout 600 apt-get -o DPkg::Lock::Timeout=600 update -qq >"${P}.apt.log" 2>&1 ||
		say "apt-get update failed (installing from the lists there are): $(tail -2 "${P}.apt.log" | tr '\n' ' ')"
	if ! timeout 1800 apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >"${P}.apt.log" 2>&1; then
		die "step apt-get install failed: $(tail -5 "${P}.apt.log" | tr '\n' ' ')"
	fi
}

mkdir -p "$(dirname "${P}")"
missing=()
while read -r name _ status; do
	[[ "${status}" == ii* ]] || missing+=("${name}")
done < <(pkg_versions)
for p in ${PKGS}; do
	pkg_versions | grep -q "^${p} " || missing+=("${p}")
done
if ((${#missing[@]})); then
	# shellcheck disable=SC2207
	missing=($(printf '%s\n' "${missing[@]}" | sort -u))
	export DEBIAN_FRONTEND=noninteractive
	apt_install "${missing[@]}"
	# The package versions are part of the key: recompute, the directory may have moved.
	key="$(cache_key)"
	P="${CHAOSLAB_CACHE:-${HOME}/.cache/chaoslab}/kong-3.9.1-${key}"
fi

say "verifying the archives in ${V} against MANIFEST.tsv"
while IFS=$'\t' read -r file _ _ _ sum _; do
	[[ "${file}" == file ]] && continue
	[[ -f "${V}/${file}" ]] || die "missing archive ${V}/${file}"
	[[ "$(sha256sum "${V}/${file}" | cut -d' ' -f1)" == "${sum}" ]] || die "sha256 mismatch: ${V}/${file} (MANIFEST.tsv says ${sum})"
done <"${V}/MANIFEST.tsv"

# ---- build ----------------------------------------------------------------------------------
mkdir -p "${P}"
exec 9>"${P}.lock"
flock 9
if [[ -f "${P}/.complete" ]]; then # another run finished it while we waited
	exec 9>&-
	finish
fi
# Holding the lock, a directory without the stamp is a killed or failed build.
rm -rf "${P}"
mkdir -p "${P}"
SRC="${P}/.build"
LOGS="${P}.logs"
rm -rf "${LOGS}"
mkdir -p "${SRC}/bundle" "${LOGS}"
L="${P}/openresty/lualib"
S="${P}/share/lua/5.1"
C="${P}/lib/lua/5.1"
J="${P}/openresty/luajit"
mkdir -p "${L}" "${S}" "${C}" "${P}/bin" "${P}/openresty/bin"

# step NAME SECONDS CMD...: run bounded, log to $LOGS/NAME.log, one line + tail on failure.
step() {
	local name="$1" secs="$2" t0 rc=0
	shift 2
	t0="$(date +%s)"
	say "step ${name}"
	# A fresh bash so `timeout` can bound (and kill) it; the step function comes along.
	timeout "${secs}" bash -c "set -euo pipefail; $(declare -f unpack "$1"); $1" >"${LOGS}/${name}.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		((rc == 124)) && say "step ${name} timed out after ${secs}s" || say "step ${name} failed (exit ${rc})"
		tail -n 15 "${LOGS}/${name}.log" | sed 's/^/  | /' >&2
		die "step ${name} failed; full log: ${LOGS}/${name}.log"
	fi
	say "step ${name} ok ($(($(date +%s) - t0))s)"
}
unpack() { mkdir -p "$2" && tar -xzf "${V}/$1.tar.gz" --strip-components=1 -C "$2"; }
export V SRC P L S C J key NOT_LOADABLE

do_unpack() {
	cd "${SRC}"
	unpack nginx-1.25.3 bundle/nginx-1.25.3
	unpack luajit2-2.1-20231117 bundle/LuaJIT-2.1-20231117.1
	unpack lua-nginx-module-0.10.26 bundle/ngx_lua-0.10.26
	unpack stream-lua-nginx-module-0.0.14 bundle/ngx_stream_lua-0.0.14
	unpack lua-cjson-2.1.0.13 bundle/lua-cjson-2.1.0.13
	unpack lua-resty-core-0.1.28 bundle/lua-resty-core-0.1.28
	unpack lua-resty-lrucache-0.13 bundle/lua-resty-lrucache-0.13
	unpack ngx_devel_kit-0.3.3 bundle/ngx_devel_kit-0.3.3
	unpack lua-kong-nginx-module-0.13.2-ddc1f95 bundle/lua-kong-nginx-module
	unpack lua-resty-lmdb-1.6.0-9da0e9f bundle/lua-resty-lmdb
	unpack lmdb-0.9.31 bundle/lua-resty-lmdb/lmdb
	unpack lua-resty-events-0.3.1-bc85295 bundle/lua-resty-events
	unpack kong-3.9.1 kong
	unpack openresty-1.25.3.2 openresty
	local f name
	while IFS=$'\t' read -r f _; do
		[[ "${f}" == file ]] && continue
		name="${f%.tar.gz}"
		[[ -d "bundle/${name}" || -d "src/${name}" ]] && continue
		unpack "${name}" "src/${name}"
	done <"${V}/MANIFEST.tsv"
	cp bundle/nginx-1.25.3/auto/configure bundle/nginx-1.25.3/configure
}

do_openresty_patches() {
	cd "${SRC}/bundle/nginx-1.25.3"
	grep -q win32_max_err_str <(sed -n 34,36p "${SRC}/openresty/util/mirror-tarballs") ||
		{ echo "util/mirror-tarballs lines 34-36 are not the first nginx patch"; return 1; }
	{
		echo "root=${SRC}/openresty main_ver=1.25.3 minor_ver=2 ver=1.25.3 info_txt=INFO"
		sed -n 34,535p "${SRC}/openresty/util/mirror-tarballs"
	} | bash -e
}

do_kong_patches() {
	cd "${SRC}"
	local p
	for p in kong/build/openresty/patches/*.patch; do
		[[ "$(basename "${p}")" == openresty_* ]] && continue
		echo "== ${p}"
		patch -p1 --forward <"${p}"
	done
}

do_luajit() {
	cd "${SRC}/bundle/LuaJIT-2.1-20231117.1"
	make -j2 PREFIX="${J}" XCFLAGS='-DLUAJIT_ENABLE_LUA52COMPAT' LDFLAGS="-Wl,-rpath,${J}/lib"
	make install PREFIX="${J}"
}

do_nginx_configure() {
	cd "${SRC}/bundle/nginx-1.25.3"
	# Module paths are relative (as OpenResty's own configure passes them), so no build path
	# ends up in `nginx -V`.
	LUAJIT_LIB="${J}/lib" LUAJIT_INC="${J}/include/luajit-2.1" ./configure \
		--prefix="${P}/openresty/nginx" --with-cc-opt='-O2' --with-ld-opt="-Wl,-rpath,${J}/lib" \
		--with-pcre-jit --with-threads --with-http_ssl_module --with-http_sub_module --with-http_realip_module \
		--with-http_stub_status_module --with-http_v2_module --with-http_auth_request_module --with-http_gunzip_module \
		--with-stream --with-stream_ssl_module --with-stream_realip_module --with-stream_ssl_preread_module \
		--add-module=../ngx_devel_kit-0.3.3 --add-module=../ngx_lua-0.10.26 --add-module=../ngx_stream_lua-0.0.14 \
		--add-module=../lua-kong-nginx-module --add-module=../lua-kong-nginx-module/stream \
		--add-module=../lua-resty-lmdb --add-module=../lua-resty-events
}

do_nginx_make() {
	cd "${SRC}/bundle/nginx-1.25.3"
	make -j2
	make install
	local v
	v="$("${P}/openresty/nginx/sbin/nginx" -V 2>&1)" # (not piped into grep -q: SIGPIPE + pipefail)
	[[ "${v}" == *"openresty/1.25.3.2"* ]] || { echo "nginx -V does not say openresty/1.25.3.2: ${v}"; return 1; }
}

do_resty_cli() {
	cp "${SRC}/src/resty-cli-0.30/bin/resty" "${P}/openresty/bin/resty"
	ln -sf ../nginx/sbin/nginx "${P}/openresty/bin/openresty"
}

do_cjson() {
	cd "${SRC}/bundle/lua-cjson-2.1.0.13"
	make LUA_INCLUDE_DIR="${J}/include/luajit-2.1" CJSON_CFLAGS=-fpic
	cp cjson.so "${L}/"
}

do_c_modules() {
	local inc="-I${J}/include/luajit-2.1"
	cd "${SRC}/src"
	gcc -O2 -fPIC -shared ${inc} lua-pack-2.0.0/lua_pack.c -o "${C}/lua_pack.so"
	gcc -O2 -fPIC -shared ${inc} lua-system-constants-0.1.4/lua_system_constants.c -o "${C}/lua_system_constants.so"
	gcc -O2 -fPIC -shared ${inc} luasyslog-2.0.1/lsyslog.c -o "${C}/lsyslog.so"
	gcc -O2 -fPIC -shared ${inc} lua-protobuf-0.5.2/pb.c -o "${C}/pb.so"
	cp lua-protobuf-0.5.2/protoc.lua "${S}/"
}

do_ada() {
	cd "${SRC}/src/ada-2.9.2"
	g++ -O2 -std=c++17 -fPIC -shared -Iinclude -Isrc src/ada.cpp -o "${C}/libada.so"
}

do_atc_router() {
	cd "${SRC}/src"
	rm -rf rust-cidr && mv rust-cidr-0.2.2 rust-cidr
	cd atc-router-1.6.2-ffd11db
	rm -f Cargo.lock
	sed -i -e 's/^pest = .*/pest = "2.5"/' -e 's/^pest_derive = .*/pest_derive = "2.5"/' \
		-e 's/^uuid = .*/uuid = "1"/' -e 's|^cidr = .*|cidr = { path = "../rust-cidr" }|' \
		-e '/^serde/d' Cargo.toml
	mkdir -p .cargo
	printf '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n' >.cargo/config.toml
	# Debian's cargo/rustc: the toolchain the librust-*-dev crates target (not a rustup one).
	env -u RUSTUP_TOOLCHAIN -u CARGO_HOME -u RUSTC PATH="/usr/bin:/bin" CARGO_HOME="${SRC}/cargo-home" \
		/usr/bin/cargo build --release --offline
	mkdir -p "${S}/resty/router"
	cp lib/resty/router/*.lua "${S}/resty/router/"
	strip -o "${C}/libatc_router.so" target/release/libatc_router.so
}

do_lua_libs() {
	cd "${SRC}"
	local d
	for d in bundle/lua-resty-core-0.1.28 bundle/lua-resty-lrucache-0.13 bundle/lua-resty-lmdb src/lua-resty-string-0.15 \
		src/lua-resty-lock-0.09 src/lua-resty-dns-0.23 src/lua-tablepool-0.02 src/lua-resty-redis-0.30 \
		src/lua-resty-upload-0.11 src/lua-resty-signal-41e359a src/lua-resty-shell-0aeafc2 \
		src/lua-resty-websocket-0.4.0.1-966c69c; do
		cp -a "${d}/lib/." "${L}/"
	done
	for d in bundle/lua-kong-nginx-module bundle/lua-resty-events; do
		cp -a "${d}/lualib/." "${L}/"
	done
	for d in lua-resty-http-0.17.2 lua-resty-jit-uuid-0.0.7 lua-ffi-zlib-0.6 lua-resty-ada-1.1.0 lua-resty-session-4.0.5 \
		lua-resty-acme-0.15.0 lua-resty-snappy-1.0 lua-resty-openssl-1.5.1 lua-resty-healthcheck-3.1.0 \
		lua-resty-timer-ng-0.2.7 lua-resty-counter-0.2.1 lua-resty-luasocket-7cd80d2 lua-resty-simdjson-1.1.0-7e6466c \
		lua-resty-timer-34b46fe lua-resty-jwt-0.2.3 lua-resty-hmac-23da759 neturl-1.2-1; do
		cp -a "src/${d}/lib/." "${S}/"
	done
	for d in lua-multipart-0.5.9-1 version.lua-1.0.1 binaryheap.lua-0.4 lua-resty-ljsonschema-1.2.0 lua-resty-aws-1.5.4 \
		date-2.2.1 lua-resty-gcp-0.0.13; do
		cp -a "src/${d}/src/." "${S}/"
	done
	cp -a src/Penlight-1.14.0/lua/. "${S}/"
	cp -a src/lapis-1.16.0.1/lapis "${S}/lapis"
	cp -a src/luatz-0.4/luatz "${S}/luatz"
	mkdir -p "${S}/resty" && cp -a src/lua-resty-ipmatcher-0.6.1/resty/. "${S}/resty/"
	cp -a src/pgmoon-1.16.0/pgmoon "${S}/pgmoon"
	cp src/inspect.lua-3.1.3/inspect.lua src/luaxxhash-1.0.0/luaxxhash.lua src/pgmoon-1.16.0/pgmoon.lua \
		src/loadkit-1.1.0/loadkit.lua src/ansicolors.lua-1.0.2/ansicolors.lua src/etlua-1.3.0/etlua.lua "${S}/"
	cp -a kong/kong "${S}/kong"
	cp kong/bin/kong "${P}/bin/kong"
	chmod +x "${P}/bin/kong" "${P}/openresty/bin/resty"
}

do_env() {
	local lua_path="${S}/?.lua;${S}/?/init.lua;${L}/?.lua;${L}/?/init.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;;"
	local lua_cpath="${P}/lib/lua/5.1/?.so;${L}/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;"
	local plugins p
	plugins="$(sed -n '/^local plugins = {/,/^}/p' "${SRC}/kong/kong/constants.lua" | grep -o '"[a-z0-9-]*"' | tr -d '"')"
	for p in ${NOT_LOADABLE}; do plugins="$(grep -vx "${p}" <<<"${plugins}")"; done
	[[ "$(wc -l <<<"${plugins}")" == 40 ]] || { echo "expected 40 loadable plugins, got: ${plugins}"; return 1; }
	paste -sd, <<<"${plugins}" >"${P}/kong-plugins.txt"
	cat >"${P}/bin/kong-env.sh" <<EOF
# Source this to run chaoslab's real Kong 3.9.1 (built by scripts/kong.sh, key ${key}).
export PATH="${P}/openresty/bin:${P}/bin:\${PATH}"
export LUA_PATH="${lua_path}"
export LUA_CPATH="${lua_cpath}"
export KONG_OPENRESTY_PATH="${P}/openresty"
export KONG_LUA_PACKAGE_PATH="${lua_path%;;}"
export KONG_LUA_PACKAGE_CPATH="${lua_cpath%;;}"
export KONG_PLUGINS="\${KONG_PLUGINS:-$(cat "${P}/kong-plugins.txt")}"
EOF
}

do_smoke() {
	# shellcheck disable=SC1091
	. "${P}/bin/kong-env.sh"
	local v
	v="$(kong version)"
	[[ "${v}" == "3.9.1" ]] || { echo "kong version says ${v}, not 3.9.1"; return 1; }
	resty -e 'require("resty.router.router"); require("lyaml"); require("resty.openssl"); print("modules ok")'
}

step unpack 300 do_unpack
step openresty-patches 120 do_openresty_patches
step kong-patches 120 do_kong_patches
step luajit 600 do_luajit
step nginx-configure 300 do_nginx_configure
step nginx-make 1800 do_nginx_make
step resty-cli 30 do_resty_cli
step lua-cjson 120 do_cjson
step c-modules 300 do_c_modules
step ada 600 do_ada
step atc-router 1200 do_atc_router
step lua-libs 120 do_lua_libs
step env 30 do_env
step smoke 60 do_smoke
# Debug info would name the deleted build folder (and weigh ~20 MB); the
# symbols stay, so a backtrace still says which function.
strip --strip-debug "${P}/openresty/nginx/sbin/nginx" "${P}"/openresty/luajit/lib/libluajit-5.1.so.* \
	"${P}"/openresty/luajit/bin/luajit-* 2>/dev/null || say "strip: debug info left in place"
rm -rf "${SRC}"
du -sh "${P}" | awk '{print "kong.sh: installed " $1}' >&2
date -u +%FT%TZ >"${P}/.complete"
exec 9>&-
say "host build done in $(elapsed) (cold)"
finish
