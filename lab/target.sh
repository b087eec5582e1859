#!/usr/bin/env bash
# Provision a lab target, with the addresses of the namespace lab
# (`synprobe lab up`). Usage: target.sh ROLE
#   linux       web 198.18.10.10: 22, 80, 443 open; Linux's defaults (initial TTL 64,
#               MSS from the MTU). Also, on the same link:
#                 edge  198.18.3.10   router-like: 22, 179 open, the rest closed; initial TTL 255
#                 slow  198.18.14.10  80 open (the router delays it)
#                 lossy 198.18.15.10  80 open (the router drops some of it)
#                 clamp 198.18.16.10  80 open (the router clamps its MSS)
#                 big   198.18.17.10  80 open, and every address of 198.19.0.0/16 (port 80)
#   winlike     win 198.18.11.10: 135, 139, 445, 3389 open; initial TTL 128, MSS 1360
#               and a receive buffer that makes its SYN-ACKs say window 65535, scale 8
#   firewalled  fw 198.18.12.10: every SYN dropped. Also reject 198.18.13.10: 80 open;
#               23 reset; 25 port-unreachable; 26 host-unreachable; every other port
#               admin-prohibited
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

install_pkgs python3 nftables iproute2

sysctls=()
advmss=()
if [ "$role" = winlike ]; then
  # Initial TTL 128; a receive buffer whose default makes the SYN-ACK's
  # window 65535 and whose maximum makes its window scale 8.
  sysctls=(net.ipv4.ip_default_ttl=128 "net.ipv4.tcp_rmem=4096 262144 8388608")
  advmss=(advmss 1360)
fi
for s in "${sysctls[@]}"; do
  sysctl -qw "$s"
done
if ! in_namespace_mode && [ ${#sysctls[@]} -gt 0 ]; then
  printf '%s\n' "${sysctls[@]}" >/etc/sysctl.d/60-synprobe-lab.conf
fi
if [ ${#advmss[@]} -gt 0 ]; then
  # The connected route decides the MSS towards the router itself.
  ip route replace "${addr%.*}.0/24" dev "$ifc" proto kernel scope link src "$addr" "${advmss[@]}"
fi
ip route replace "$LAB_RANGE" via "$gw" dev "$ifc" "${advmss[@]}"

# Further addresses on the same link (see above).
case $role in
linux) extra=(198.18.3.10 198.18.14.10 198.18.15.10 198.18.16.10 198.18.17.10) ;;
firewalled) extra=(198.18.13.10) ;;
*) extra=() ;;
esac
for a in "${extra[@]}"; do
  ip addr replace "$a/24" dev "$ifc"
done
if [ "$role" = linux ]; then
  # big: one stack for all of 198.19.0.0/16.
  ip route replace local 198.19.0.0/16 dev lo
fi

nft delete table inet synprobe-lab 2>/dev/null || true
case $role in
linux)
  # Ports as in the namespace lab, where these are separate stacks: edge
  # has 22 and 179, slow, lossy, clamp and big only 80, web no 179. And
  # everything edge sends (SYN-ACKs, RSTs, ICMP) leaves with TTL 255, as
  # from a router's stack: it is one hop away, like the namespace lab's.
  nft -f - <<RULES
table inet synprobe-lab {
  chain output {
    type filter hook output priority mangle; policy accept;
    ip saddr 198.18.3.10 ip ttl set 255
  }
  chain input {
    type filter hook input priority filter; policy accept;
    ip daddr 198.18.3.10 tcp dport { 22, 179 } accept
    ip daddr 198.18.3.10 meta l4proto tcp reject with tcp reset
    ip daddr { 198.18.14.10, 198.18.15.10, 198.18.16.10, 198.18.17.10, 198.19.0.0/16 } tcp dport != 80 reject with tcp reset
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
echo "target $role at $addr ${extra[*]} ($ifc): ready"
