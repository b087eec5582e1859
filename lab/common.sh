# shellcheck shell=bash
# Shared by the lab's provisioning scripts. Sourced, not run.
#
# The scripts run on Debian or Ubuntu VMs (the Vagrantfile), on any such
# host by hand, and in CI inside network namespaces (LAB_NAMESPACE_MODE=1:
# nothing is installed and listeners run as background processes).

# shellcheck disable=SC2034 # used by the scripts that source this file
LAB_RANGE=198.18.0.0/15
# The lab's IPv6 range (RFC 5180's benchmarking range): every lab address
# 198.18.X.Y also has 2001:2:0:X::Y (map6), as in the namespace lab.
LAB_RANGE6=2001:2::/48
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_RUN_DIR=${LAB_RUN_DIR:-/run/synprobe-lab}

die() { echo "lab: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "run as root"; }

in_namespace_mode() { [ "${LAB_NAMESPACE_MODE:-}" = 1 ]; }

# iface_for ADDR prints the interface that holds ADDR: interface names are
# never hard-coded (eth1 on one box is enp0s8 on another).
iface_for() {
  local ifc
  ifc=$(ip -o -4 addr show | awk -v a="$1" '{ split($4, p, "/"); if (p[1] == a) print $2 }' | head -n 1)
  [ -n "$ifc" ] || die "no interface has address $1"
  echo "$ifc"
}

# gateway_of ADDR prints .1 of ADDR's /24: the router's side of that net.
gateway_of() { echo "${1%.*}.1"; }

# map6 ADDR prints the IPv6 address of the lab's IPv4 address ADDR, by the
# namespace lab's rule (lab.Map6): 198.18.X.Y is 2001:2:0:X::Y and
# 198.19.X.Y is 2001:2:0:1XX::Y, X and Y in hex (198.18.10.10 is
# 2001:2:0:a::a).
map6() {
  local a b x y
  IFS=. read -r a b x y <<<"$1"
  case $a.$b in
  198.18 | 198.19) ;;
  *) die "map6: $1 is not in $LAB_RANGE" ;;
  esac
  printf '2001:2:0:%x::%x\n' $(((b - 18) * 256 + x)) "$y"
}

# lab_iface6 IFC turns IPv6 on for a lab interface with nothing automatic,
# as the namespace lab does: no router advertisement accepted, no address
# configured from one, no router solicitation, so no route ever appears
# by itself; an address added `nodad` is usable at once.
lab_iface6() {
  local k
  for k in disable_ipv6=0 accept_ra=0 autoconf=0 router_solicitations=0; do
    echo "${k#*=}" >"/proc/sys/net/ipv6/conf/$1/${k%=*}"
  done
}

# addr_with6 IFC ADDR/24 puts ADDR/24 and its IPv6 twin, map6 ADDR/64, on
# IFC.
addr_with6() {
  local a=${2%/*}
  ip addr replace "$a/24" dev "$1"
  ip -6 addr replace "$(map6 "$a")/64" dev "$1" nodad
}

install_pkgs() {
  in_namespace_mode && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@"
}

# start_listeners PORT... keeps real listening sockets open: a systemd
# service on a VM, a background process in a namespace.
start_listeners() {
  mkdir -p "$LAB_RUN_DIR"
  if in_namespace_mode; then
    python3 "$LAB_DIR/listen.py" "$@" >/dev/null 2>&1 &
    echo $! >>"$LAB_RUN_DIR/pids"
    wait_listening "$@"
    return 0
  fi
  install -m 0644 /dev/stdin /etc/systemd/system/synprobe-lab-listen.service <<UNIT
[Unit]
Description=synprobe lab: listening sockets on ports $*
After=network-online.target

[Service]
ExecStart=/usr/bin/python3 $LAB_DIR/listen.py $*
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now synprobe-lab-listen.service
  systemctl restart synprobe-lab-listen.service
  wait_listening "$@"
}

# wait_listening PORT... returns once every port has a listening socket
# in each family (at most about 10 s).
wait_listening() {
  local p i
  for p in "$@"; do
    for i in $(seq 100); do
      [ -n "$(ss -Hltn4 "sport = :$p")" ] && [ -n "$(ss -Hltn6 "sport = :$p")" ] && break
      [ "$i" -eq 100 ] && die "nothing listens on port $p in both families"
      sleep 0.1
    done
  done
}
