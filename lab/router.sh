#!/usr/bin/env bash
# Provision the lab router. It forwards between the prober's network and
# the targets' networks, in IPv4 and IPv6, so every packet loses one TTL
# or hop limit here, and it does what the namespace lab's routers do (same
# addresses, see docs/LAB.md; every interface's IPv4 address 198.18.X.1
# also has its IPv6 twin 2001:2:0:X::1, see map6 in common.sh):
#   - clamps the MSS of SYNs to and from clamp, 198.18.16.0/24 and
#     2001:2:0:10::/64, to LAB_CLAMP_MSS (default 1200; 0 turns it off)
#     over IPv4 and to 20 less (1180) over IPv6, whose header is 20 bytes
#     longer, with nftables;
#   - delays every packet to and from slow, 198.18.14.0/24 and
#     2001:2:0:e::/64, by LAB_SLOW_DELAY (default 20ms) each way, and drops
#     packets to and from lossy, 198.18.15.0/24 and 2001:2:0:f::/64, with
#     probability LAB_LOSSY_LOSS (default 10%) each way, with tc netem,
#     where the kernel has it;
#   - routes 198.19.0.0/16 to big, 198.18.17.10, and 2001:2:0:ffff::/112
#     to big's 2001:2:0:11::a.
# edge, slow, lossy, clamp and big are further addresses of the web VM, on
# its link (so the router holds .1 and ::1 of each of their nets there),
# as reject is of the fw VM. IPv6 comes with nothing automatic: no router
# advertisement is accepted on the lab interfaces, and none is sent.
# Usage: router.sh
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
need_root

if ! in_namespace_mode; then
  install_pkgs nftables iproute2
fi

front=$(iface_for 198.18.1.2)
webside=$(iface_for 198.18.10.1)
winside=$(iface_for 198.18.11.1)
fwside=$(iface_for 198.18.12.1)
# IPv6 settings of the lab interfaces first: forwarding, set below, turns
# every interface's accept_ra into "only if 2".
for ifc in "$front" "$webside" "$winside" "$fwside"; do
  lab_iface6 "$ifc"
done
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
if ! in_namespace_mode; then
  printf '%s\n' net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/etc/sysctl.d/60-synprobe-lab.conf
fi

addr_with6 "$front" 198.18.1.2/24
addr_with6 "$webside" 198.18.10.1/24
addr_with6 "$winside" 198.18.11.1/24
addr_with6 "$fwside" 198.18.12.1/24
for net in 3 14 15 16 17; do
  addr_with6 "$webside" "198.18.$net.1/24"
done
addr_with6 "$fwside" 198.18.13.1/24
ip route replace 198.19.0.0/16 via 198.18.17.10 dev "$webside"
ip -6 route replace 2001:2:0:ffff::/112 via "$(map6 198.18.17.10)" dev "$webside"

nft delete table inet synprobe-lab-clamp 2>/dev/null || true
clamp=${LAB_CLAMP_MSS:-1200}
if [ "$clamp" != 0 ]; then
  net=198.18.16.0/24 net6=2001:2:0:10::/64 clamp6=$((clamp - 20))
  nft -f - <<RULES
table inet synprobe-lab-clamp {
  chain forward {
    type filter hook forward priority mangle; policy accept;
    ip daddr $net tcp flags syn tcp option maxseg size > $clamp tcp option maxseg size set $clamp
    ip saddr $net tcp flags syn tcp option maxseg size > $clamp tcp option maxseg size set $clamp
    ip6 daddr $net6 tcp flags syn tcp option maxseg size > $clamp6 tcp option maxseg size set $clamp6
    ip6 saddr $net6 tcp flags syn tcp option maxseg size > $clamp6 tcp option maxseg size set $clamp6
  }
}
RULES
  echo "router: MSS clamped to $clamp for $net, to $clamp6 for $net6"
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
  tc filter add dev "$ifc" parent 1: protocol ipv6 prio 2 u32 match ip6 "$dir" 2001:2:0:e::/64 flowid 1:14
  tc filter add dev "$ifc" parent 1: protocol ipv6 prio 2 u32 match ip6 "$dir" 2001:2:0:f::/64 flowid 1:15
  if ! tc qdisc add dev "$ifc" parent 1:14 handle 14: netem delay "${LAB_SLOW_DELAY:-20ms}" 2>/dev/null ||
    ! tc qdisc add dev "$ifc" parent 1:15 handle 15: netem loss "${LAB_LOSSY_LOSS:-10%}" 2>/dev/null; then
    tc qdisc del dev "$ifc" root
    return 1
  fi
}
if impair "$webside" dst && impair "$front" src; then
  echo "router: netem: ${LAB_SLOW_DELAY:-20ms} each way for 198.18.14.0/24 and 2001:2:0:e::/64, ${LAB_LOSSY_LOSS:-10%} loss each way for 198.18.15.0/24 and 2001:2:0:f::/64"
else
  tc qdisc del dev "$webside" root 2>/dev/null || true
  echo "router: no netem in this kernel (sch_netem): 198.18.14.10 and 198.18.15.10 (2001:2:0:e::a, 2001:2:0:f::a) answer without delay or loss"
fi
echo "router: forwarding on, IPv4 and IPv6"
