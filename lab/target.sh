#!/usr/bin/env bash
# Provision a lab target. Usage: target.sh ROLE ADDRESS
#   linux       22, 80, 443 open; Linux's defaults (initial TTL 64, MSS from the MTU)
#   winlike     135, 139, 445, 3389 open; initial TTL 128 and MSS 1360, like Windows
#   firewalled  80 open; 22 dropped; 23 reset; 25 port-unreachable; 26 host-unreachable;
#               every other port admin-prohibited
# Rules apply to the lab interface only, so a VM's management interface
# (vagrant ssh) is never affected.
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
need_root
[ $# -eq 2 ] || die "usage: target.sh linux|winlike|firewalled ADDRESS"
role=$1 addr=$2
ifc=$(iface_for "$addr")
gw=$(gateway_of "$addr")

case $role in
linux | winlike | firewalled) ;;
*) die "unknown role $role" ;;
esac

install_pkgs python3 nftables iproute2

advmss=()
if [ "$role" = winlike ]; then
  sysctl -qw net.ipv4.ip_default_ttl=128
  in_namespace_mode || echo net.ipv4.ip_default_ttl=128 >/etc/sysctl.d/60-synprobe-lab.conf
  advmss=(advmss 1360)
  # The connected route decides the MSS towards the router itself.
  ip route replace "${addr%.*}.0/24" dev "$ifc" proto kernel scope link src "$addr" "${advmss[@]}"
fi
ip route replace "$LAB_RANGE" via "$gw" dev "$ifc" "${advmss[@]}"

nft delete table inet synprobe-lab 2>/dev/null || true
if [ "$role" = firewalled ]; then
  nft -f - <<RULES
table inet synprobe-lab {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$ifc" tcp dport 22 drop
    iifname "$ifc" tcp dport 80 accept
    iifname "$ifc" tcp dport 23 reject with tcp reset
    iifname "$ifc" tcp dport 25 reject with icmp type port-unreachable
    iifname "$ifc" tcp dport 26 reject with icmp type host-unreachable
    iifname "$ifc" meta l4proto tcp reject with icmp type admin-prohibited
  }
}
RULES
fi

case $role in
linux) if in_namespace_mode; then start_listeners 22 80 443; else start_listeners 80 443; fi ;;
winlike) start_listeners 135 139 445 3389 ;;
firewalled) start_listeners 80 ;;
esac
echo "target $role at $addr ($ifc): ready"
