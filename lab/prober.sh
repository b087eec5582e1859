#!/usr/bin/env bash
# Provision the prober VM: Go, synprobe built from this repository (the
# Vagrantfile syncs it to /vagrant) with CAP_NET_RAW, tcpdump, and a route
# to the lab through the router. Usage: prober.sh [REPO_DIR]
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
need_root
repo=${1:-/vagrant}
router=198.18.1.2

install_pkgs ca-certificates curl python3 make git libcap2-bin tcpdump iproute2 iputils-ping
if ! in_namespace_mode; then
  "$LAB_DIR/install-go.sh"
  make -C "$repo" build GO=/usr/local/go/bin/go
  install -m 0755 "$repo/bin/synprobe" /usr/local/bin/synprobe
  setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/synprobe
fi
ifc=$(iface_for 198.18.1.1)
ip route replace "$LAB_RANGE" via "$router" dev "$ifc"
echo "prober: synprobe installed; lab routed via $router on $ifc"
