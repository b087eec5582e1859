#!/usr/bin/env bash
# Provision a lab target, with the addresses of the namespace lab
# (`synprobe lab up`): every IPv4 address below also has its IPv6 twin
# (198.18.X.Y is 2001:2:0:X::Y, in hex: map6 in common.sh), which answers
# the same way over IPv6 (hop limit as the TTL, every MSS 20 less, ICMPv6
# where IPv4 has ICMP). Usage: target.sh ROLE
#   linux       web 198.18.10.10: 22, 80, 443 open; Linux's defaults (initial TTL 64,
#               MSS from the MTU). Also, on the same link:
#                 edge  198.18.3.10   router-like: 22, 179 open, the rest closed; initial TTL 255
#                 slow  198.18.14.10  80 open (the router delays it)
#                 lossy 198.18.15.10  80 open (the router drops some of it)
#                 clamp 198.18.16.10  80 open (the router clamps its MSS)
#                 big   198.18.17.10  80 open, and every address of 198.19.0.0/16 and of
#                       2001:2:0:ffff::/112 (port 80)
#   winlike     win 198.18.11.10: 135, 139, 445, 3389 open; initial TTL and hop limit 128,
#               MSS 1360 (1340 over IPv6)
#               and a receive buffer that makes its SYN-ACKs say window 65535, scale 8
#   firewalled  fw 198.18.12.10: every SYN dropped. Also reject 198.18.13.10: 80 open;
#               23 reset; 25 port-unreachable; 26 host-unreachable (ICMPv6: address
#               unreachable); every other port admin-prohibited
# ICMP and ICMPv6 errors are not rate limited, as in the namespace lab, so
# a fast scan of reject measures synprobe, not the kernel's limits.
# Every rule matches lab addresses only, so a VM's management interface
# (vagrant ssh) is never affected.
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
need_root
[ $# -eq 1 ] || die "usage: target.sh linux|winlike|firewalled"
role=$1
case $role in
linux) addr=198.18.10.10 ;;
winlike) addr=198.18.11.10 ;;
firewalled) addr=198.18.12.10 ;;
*) die "unknown role $role" ;;
esac
ifc=$(iface_for "$addr")
gw=$(gateway_of "$addr")
addr6=$(map6 "$addr")
gw6=$(map6 "$gw")

install_pkgs python3 nftables iproute2

lab_iface6 "$ifc"
sysctls=(net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 net.ipv6.icmp.ratelimit=0)
advmss=()
advmss6=()
if [ "$role" = winlike ]; then
  # Initial TTL and hop limit 128 (IPv6 takes it from the interface's
  # setting); a receive buffer whose default makes the SYN-ACK's window
  # 65535 and whose maximum makes its window scale 8.
  sysctls+=(net.ipv4.ip_default_ttl=128 net.ipv6.conf.all.hop_limit=128
    net.ipv6.conf.default.hop_limit=128 "net.ipv6.conf.$ifc.hop_limit=128"
    "net.ipv4.tcp_rmem=4096 262144 8388608")
  advmss=(advmss 1360)
  advmss6=(advmss 1340)
fi
for s in "${sysctls[@]}"; do
  sysctl -qw "$s"
done
if ! in_namespace_mode; then
  printf '%s\n' "${sysctls[@]}" >/etc/sysctl.d/60-synprobe-lab.conf
fi
ip -6 addr replace "$addr6/64" dev "$ifc" nodad
if [ ${#advmss[@]} -gt 0 ]; then
  # The connected routes decide the MSS towards the router itself (an
  # IPv6 route is replaced only with its own metric: 256, the kernel's).
  ip route replace "${addr%.*}.0/24" dev "$ifc" proto kernel scope link src "$addr" "${advmss[@]}"
  ip -6 route replace "${addr6%::*}::/64" dev "$ifc" proto kernel metric 256 "${advmss6[@]}"
fi
ip route replace "$LAB_RANGE" via "$gw" dev "$ifc" "${advmss[@]}"
ip -6 route replace "$LAB_RANGE6" via "$gw6" dev "$ifc" "${advmss6[@]}"

# Further addresses on the same link (see above).
case $role in
linux) extra=(198.18.3.10 198.18.14.10 198.18.15.10 198.18.16.10 198.18.17.10) ;;
firewalled) extra=(198.18.13.10) ;;
*) extra=() ;;
esac
for a in "${extra[@]}"; do
  addr_with6 "$ifc" "$a/24"
done
if [ "$role" = linux ]; then
  # big: one stack for all of 198.19.0.0/16 and of 2001:2:0:ffff::/112
  # (the "AnyIP" local routes).
  ip route replace local 198.19.0.0/16 dev lo
  ip -6 route replace local 2001:2:0:ffff::/112 dev lo
fi

nft delete table inet synprobe-lab 2>/dev/null || true
case $role in
linux)
  # Ports as in the namespace lab, where these are separate stacks: edge
  # has 22 and 179, slow, lossy, clamp and big only 80, web no 179. And
  # everything edge sends (SYN-ACKs, RSTs, ICMP) leaves with TTL (hop
  # limit) 255, as from a router's stack: it is one hop away, like the
  # namespace lab's. The same over IPv6.
  nft -f - <<RULES
table inet synprobe-lab {
  chain output {
    type filter hook output priority mangle; policy accept;
    ip saddr 198.18.3.10 ip ttl set 255
    ip6 saddr 2001:2:0:3::a ip6 hoplimit set 255
  }
  chain input {
    type filter hook input priority filter; policy accept;
    ip daddr 198.18.3.10 tcp dport { 22, 179 } accept
    ip daddr 198.18.3.10 meta l4proto tcp reject with tcp reset
    ip daddr { 198.18.14.10, 198.18.15.10, 198.18.16.10, 198.18.17.10, 198.19.0.0/16 } tcp dport != 80 reject with tcp reset
    ip6 daddr 2001:2:0:3::a tcp dport { 22, 179 } accept
    ip6 daddr 2001:2:0:3::a meta l4proto tcp reject with tcp reset
    ip6 daddr { 2001:2:0:e::a, 2001:2:0:f::a, 2001:2:0:10::a, 2001:2:0:11::a, 2001:2:0:ffff::/112 } tcp dport != 80 reject with tcp reset
    tcp dport 179 reject with tcp reset
  }
}
RULES
  ;;
firewalled)
  nft -f - <<RULES
table inet synprobe-lab {
  chain input {
    type filter hook input priority filter; policy accept;
    ip daddr 198.18.12.10 meta l4proto tcp drop
    ip daddr 198.18.13.10 tcp dport 80 accept
    ip daddr 198.18.13.10 tcp dport 23 reject with tcp reset
    ip daddr 198.18.13.10 tcp dport 25 reject with icmp type port-unreachable
    ip daddr 198.18.13.10 tcp dport 26 reject with icmp type host-unreachable
    ip daddr 198.18.13.10 meta l4proto tcp reject with icmp type admin-prohibited
    ip6 daddr 2001:2:0:c::a meta l4proto tcp drop
    ip6 daddr 2001:2:0:d::a tcp dport 80 accept
    ip6 daddr 2001:2:0:d::a tcp dport 23 reject with tcp reset
    ip6 daddr 2001:2:0:d::a tcp dport 25 reject with icmpv6 type port-unreachable
    ip6 daddr 2001:2:0:d::a tcp dport 26 reject with icmpv6 type addr-unreachable
    ip6 daddr 2001:2:0:d::a meta l4proto tcp reject with icmpv6 type admin-prohibited
  }
}
RULES
  ;;
esac

# Port 22 is the VM's own sshd, except in a namespace.
case $role in
linux) if in_namespace_mode; then start_listeners 22 80 179 443; else start_listeners 80 179 443; fi ;;
winlike) start_listeners 135 139 445 3389 ;;
firewalled) if in_namespace_mode; then start_listeners 22 80; else start_listeners 80; fi ;;
esac
extra6=()
for a in "${extra[@]}"; do
  extra6+=("$(map6 "$a")")
done
echo "target $role at $addr ${extra[*]} and $addr6 ${extra6[*]} ($ifc): ready"
