#!/usr/bin/env bash
# A second Podman for the engine tests, as podman.sh but with the netavark network backend, on
# its own socket, state and subnet: its internal networks give the host an address, so egress
# must refuse it (docs/egress.md, "Engine kinds").
#   podman-netavark.sh start | env | stop
PODMAN_NETWORK_BACKEND=netavark exec "$(dirname "$0")/podman.sh" "$@"
