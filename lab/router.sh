#!/usr/bin/env bash
# Provision the lab router: forward between the prober's network and the
# targets' networks, so every packet loses one TTL here. Optional:
#   LAB_CLAMP_MSS=1200 LAB_CLAMP_NET=198.18.10.0/24   clamp the MSS of SYNs to and from that net
#   LAB_DELAY=20ms LAB_LOSS=10% LAB_IMPAIR_NET=198.18.10.0/24
#                                                      netem on the way to that net (needs sch_netem)
# Usage: router.sh
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
need_root

sysctl -qw net.ipv4.ip_forward=1
if ! in_namespace_mode; then
  echo net.ipv4.ip_forward=1 >/etc/sysctl.d/60-synprobe-lab.conf
  install_pkgs nftables iproute2
fi

nft delete table inet synprobe-lab-clamp 2>/dev/null || true
if [ -n "${LAB_CLAMP_MSS:-}" ]; then
  net=${LAB_CLAMP_NET:-198.18.10.0/24}
  nft -f - <<RULES
table inet synprobe-lab-clamp {
  chain forward {
    type filter hook forward priority mangle; policy accept;
    ip daddr $net tcp flags syn tcp option maxseg size > $LAB_CLAMP_MSS tcp option maxseg size set $LAB_CLAMP_MSS
    ip saddr $net tcp flags syn tcp option maxseg size > $LAB_CLAMP_MSS tcp option maxseg size set $LAB_CLAMP_MSS
  }
}
RULES
  echo "router: MSS clamped to $LAB_CLAMP_MSS for $net"
fi

if [ -n "${LAB_DELAY:-}${LAB_LOSS:-}" ]; then
  net=${LAB_IMPAIR_NET:-198.18.10.0/24}
  ifc=$(iface_for "$(gateway_of "${net%/*}")")
  args=()
  [ -n "${LAB_DELAY:-}" ] && args+=(delay "$LAB_DELAY")
  [ -n "${LAB_LOSS:-}" ] && args+=(loss "$LAB_LOSS")
  tc qdisc replace dev "$ifc" root netem "${args[@]}"
  echo "router: netem ${args[*]} on $ifc (towards $net)"
fi
echo "router: forwarding on"
