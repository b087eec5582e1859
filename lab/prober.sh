#!/usr/bin/env bash
# Provision the prober VM: Go, synprobe built from this repository (the
# Vagrantfile syncs it to /vagrant) with CAP_NET_RAW, tcpdump, and a route
# to the lab through the router in each family: 198.18.0.0/15 via
# 198.18.1.2, and 2001:2::/48 via 2001:2:0:1::2, its only IPv6 route (no
# default route, no router advertisement accepted: an IPv6 scan can reach
# nothing outside the lab). Usage: prober.sh [REPO_DIR]
set -euo pipefail
# shellcheck source=lab/common.sh
. "$(dirname "$0")/common.sh"
need_root
repo=${1:-/vagrant}
router=198.18.1.2
router6=$(map6 "$router")

install_pkgs ca-certificates curl python3 make git libcap2-bin tcpdump iproute2 iputils-ping
if ! in_namespace_mode; then
  "$LAB_DIR/install-go.sh"
  make -C "$repo" build GO=/usr/local/go/bin/go
  install -m 0755 "$repo/bin/synprobe" /usr/local/bin/synprobe
  setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/synprobe
fi
ifc=$(iface_for 198.18.1.1)
lab_iface6 "$ifc"
ip -6 addr replace "$(map6 198.18.1.1)/64" dev "$ifc" nodad
ip route replace "$LAB_RANGE" via "$router" dev "$ifc"
ip -6 route replace "$LAB_RANGE6" via "$router6" dev "$ifc"

# in_lab6 DST: DST (a route's destination, as ip prints it) is inside
# 2001:2::/48 or link-local.
in_lab6() { [[ $1 =~ ^(2001:2::|2001:2:0:|fe80:) ]]; }

if ! in_namespace_mode; then
  # The VM's other interfaces (Vagrant's management one) keep IPv4 (vagrant
  # ssh, apt), but over IPv6 the lab is all there is: no router
  # advertisement accepted anywhere, now or after a reboot, no address
  # configured from one, no route outside the lab.
  sysctls=()
  for c in /proc/sys/net/ipv6/conf/*; do
    n=${c##*/}
    [ "$n" = lo ] && continue
    lab_iface6 "$n"
    case $n in all | default) sysctls+=("net.ipv6.conf.$n.accept_ra=0" "net.ipv6.conf.$n.autoconf=0") ;; esac
  done
  printf '%s\n' "${sysctls[@]}" >/etc/sysctl.d/60-synprobe-lab.conf
  ip -6 addr flush scope global dynamic
  ip -6 -o route show table main | while read -r dst _; do
    in_lab6 "$dst" || ip -6 route del "$dst"
  done
fi
if out=$(ip -6 route get 2001:db8::1 2>&1); then
  die "an IPv6 route leads out of the lab: $out"
fi
echo "prober: synprobe installed; lab routed via $router and $router6 on $ifc; no other IPv6 route"
