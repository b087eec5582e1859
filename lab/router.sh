#!/usr/bin/env bash
# Provision the lab router. It forwards between the prober's network and
# the targets' networks, so every packet loses one TTL here, and it does
# what the namespace lab's routers do (same addresses, see docs/LAB.md):
#   - clamps the MSS of SYNs to and from clamp, 198.18.16.0/24, to
#     LAB_CLAMP_MSS (default 1200; 0 turns it off), with nftables;
#   - delays every packet to and from slow, 198.18.14.0/24, by
#     LAB_SLOW_DELAY (default 20ms) each way, and drops packets to and
#     from lossy, 198.18.15.0/24, with probability LAB_LOSSY_LOSS (default
#     10%) each way, with tc netem, where the kernel has it;
#   - routes 198.19.0.0/16 to big, 198.18.17.10.
# edge, slow, lossy, clamp and big are further addresses of the web VM, on
# its link (so the router holds .1 of each of their /24s there), as reject
# is of the fw VM.
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

front=$(iface_for 198.18.1.2)
webside=$(iface_for 198.18.10.1)
fwside=$(iface_for 198.18.12.1)
for net in 3 14 15 16 17; do
  ip addr replace "198.18.$net.1/24" dev "$webside"
done
ip addr replace 198.18.13.1/24 dev "$fwside"
ip route replace 198.19.0.0/16 via 198.18.17.10 dev "$webside"

nft delete table inet synprobe-lab-clamp 2>/dev/null || true
clamp=${LAB_CLAMP_MSS:-1200}
if [ "$clamp" != 0 ]; then
  net=198.18.16.0/24
  nft -f - <<RULES
table inet synprobe-lab-clamp {
  chain forward {
    type filter hook forward priority mangle; policy accept;
    ip daddr $net tcp flags syn tcp option maxseg size > $clamp tcp option maxseg size set $clamp
    ip saddr $net tcp flags syn tcp option maxseg size > $clamp tcp option maxseg size set $clamp
  }
}
RULES
  echo "router: MSS clamped to $clamp for $net"
fi

# impair IFC DIR: on IFC's way out, packets whose DIR address (dst or src)
# is slow's or lossy's go through their netem; everything else passes.
# Returns non-zero, leaving IFC as it was, if the kernel has no netem.
impair() {
  local ifc=$1 dir=$2
  tc qdisc del dev "$ifc" root 2>/dev/null || true
  tc qdisc add dev "$ifc" root handle 1: htb default 1
  tc class add dev "$ifc" parent 1: classid 1:1 htb rate 10gbit quantum 60000
  tc class add dev "$ifc" parent 1: classid 1:14 htb rate 10gbit quantum 60000
  tc class add dev "$ifc" parent 1: classid 1:15 htb rate 10gbit quantum 60000
  tc filter add dev "$ifc" parent 1: protocol ip prio 1 u32 match ip "$dir" 198.18.14.0/24 flowid 1:14
  tc filter add dev "$ifc" parent 1: protocol ip prio 1 u32 match ip "$dir" 198.18.15.0/24 flowid 1:15
  if ! tc qdisc add dev "$ifc" parent 1:14 handle 14: netem delay "${LAB_SLOW_DELAY:-20ms}" 2>/dev/null ||
    ! tc qdisc add dev "$ifc" parent 1:15 handle 15: netem loss "${LAB_LOSSY_LOSS:-10%}" 2>/dev/null; then
    tc qdisc del dev "$ifc" root
    return 1
  fi
}
if impair "$webside" dst && impair "$front" src; then
  echo "router: netem: ${LAB_SLOW_DELAY:-20ms} each way for 198.18.14.0/24, ${LAB_LOSSY_LOSS:-10%} loss each way for 198.18.15.0/24"
else
  tc qdisc del dev "$webside" root 2>/dev/null || true
  echo "router: no netem in this kernel (sch_netem): 198.18.14.10 and 198.18.15.10 answer without delay or loss"
fi
echo "router: forwarding on"
