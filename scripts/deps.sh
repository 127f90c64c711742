#!/usr/bin/env bash
# Installs every Debian package k8c needs to build, test, benchmark and run.
# Idempotent: when everything is present it does nothing; `apt-get update` runs only when
# something is missing. Each group says why it is here.
set -euo pipefail

packages=(
    # build
    build-essential pkg-config clang clang-format
    # libraries (one line each: what the code uses them for)
    libjansson-dev      # JSON: every object the API touches
    libyaml-dev         # YAML -> JSON (manifests, server-side apply bodies)
    libsqlite3-dev      # the embedded store
    # HTTP client: etcd gateway, registries, agent -> server. The GnuTLS flavour, not the
    # OpenSSL one: k8c's own TLS is GnuTLS, and libcurl4-openssl-dev would load OpenSSL too
    # (~4.7 MiB more resident in every k8c process). It conflicts with libcurl4-openssl-dev:
    # the install below removes that one.
    libcurl4-gnutls-dev
    libssh2-1-dev       # only to initialise libcurl's libssh2 without OpenSSL (base/curlinit.c)
    libmicrohttpd-dev   # the API server's HTTP/1.1 + TLS front
    libgnutls28-dev     # TLS, the cluster CA and certificates
    libarchive-dev      # image layers (tar, gzip, zstd)
    libseccomp-dev      # container seccomp profiles
    libcap-dev          # container capabilities
    libmnl-dev          # netlink for the pod network
    libnftables-dev     # service proxy rules
    zlib1g-dev          # SPDY/3.1 header blocks (kubectl port-forward)
    libcriterion-dev    # C unit tests
    libclang-rt-14-dev  # libFuzzer and sanitizer runtimes for clang
    # tests and their real peers
    python3-pytest python3-kubernetes python3-yaml
    python3-pytest-xdist  # e2e tests run in parallel: most of their time is spent waiting
    etcd-server etcd-client
    crun runc busybox-static
    python3-grpcio      # a real gRPC health server for the agent's grpc probe e2e test
    openssl             # the HTTPS probe test's self-signed certificate
    docker-registry skopeo umoci
    iproute2 nftables procps util-linux
    wrk                 # bench/service: HTTP load through a ClusterIP vs direct
    dnsperf dnsmasq-base  # bench/dns: the load generator and the peer DNS server
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Debian's etcd-server and docker-registry start system services on install; policy-rc.d keeps
# them from listening on this machine's interfaces (tests start their own, on 127.0.0.1 only).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
fi
# -y also accepts the removals conflicts ask for (libcurl4-openssl-dev, see above).
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
if [ $made_policy -eq 1 ]; then rm -f "$policy"; fi
