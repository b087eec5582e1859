# shellcheck shell=bash
# Shared by the lab's provisioning scripts. Sourced, not run.
#
# The scripts run on Debian or Ubuntu VMs (the Vagrantfile), on any such
# host by hand, and in CI inside network namespaces (LAB_NAMESPACE_MODE=1:
# nothing is installed and listeners run as background processes).

# shellcheck disable=SC2034 # used by the scripts that source this file
LAB_RANGE=198.18.0.0/15
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
# (at most about 10 s).
wait_listening() {
  local p i
  for p in "$@"; do
    for i in $(seq 100); do
      [ -n "$(ss -Hltn "sport = :$p")" ] && break
      [ "$i" -eq 100 ] && die "nothing listens on port $p"
      sleep 0.1
    done
  done
}
