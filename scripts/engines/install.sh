#!/usr/bin/env bash
# Installs what the test engines need (Debian packages), when it is missing:
# Podman (and netavark, for the second Podman), an ssh server and client, and htpasswd for the authenticated registry.
source "$(dirname "$0")/lib.sh"

need=()
command -v podman >/dev/null || need+=(podman)
[ -x /usr/lib/podman/netavark ] || need+=(netavark aardvark-dns)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v docker-registry >/dev/null || need+=(docker-registry)
[ "${#need[@]}" -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || die "missing ${need[*]} and not root: install them, then retry"
log "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
