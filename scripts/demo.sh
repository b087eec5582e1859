#!/usr/bin/env bash
# make demo: bring the namespace lab up, show synprobe working against it,
# bring it down again (also on error or Ctrl-C). Needs root.
#
# Usage: scripts/demo.sh [path/to/synprobe]   (make demo passes bin/synprobe)
# SYNPROBE_LAB_ID=x runs the demo as a second lab beside one already up.
set -euo pipefail
bin=${1:-bin/synprobe}
if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root (the lab creates network namespaces): sudo make demo" >&2
  exit 3
fi
if [ ! -x "$bin" ]; then
  echo "no synprobe binary at $bin: run make build first" >&2
  exit 2
fi

# quote prints its arguments as one shell command line: what can be pasted
# into a shell to run exactly this argv (an argument with spaces or shell
# syntax in it is single-quoted).
quote() {
  local a out=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:,=@%+-]+$ ]]; then
      out+=("$a")
    else
      out+=("'${a//\'/\'\\\'\'}'")
    fi
  done
  printf '%s' "${out[*]}"
}
step() { printf '\n\033[1m$ %s\033[0m\n' "$(quote "$@")"; "$@"; }
has() { "$bin" "$1" --help >/dev/null 2>&1; }

# Only a lab this script brought up is brought down again: a failed lab up
# (say, a lab already up) leaves the other lab alone.
step "$bin" lab up
trap '"$bin" lab down >/dev/null 2>&1 || true' EXIT
step "$bin" lab status

if has scan; then
  echo
  echo "# Every state: web (open/closed, TTL 62), win (TTL 126, MSS 1360), fw (dropped),"
  echo "# reject (RST, ICMP port-/host-unreachable, admin-prohibited), clamp (MSS 1200), edge (TTL 254)"
  step "$bin" lab exec -- "$bin" scan 198.18.3.10 198.18.10.10 198.18.11.10 198.18.12.10 198.18.13.10 198.18.16.10 \
    -p 22,23,25,26,80,443,445 --timeout 500ms
  echo
  echo "# The slow host (20 ms each way) and the lossy one (10 % each way), with retries"
  step "$bin" lab exec -- "$bin" scan 198.18.14.10 198.18.15.10 -p 80,81 --retries 3 --timeout 500ms
  echo
  echo "# 65,536 real stacks: 198.19.0.0/16, port 80, open ones only, counted"
  step "$bin" lab exec -- bash -c "$(printf %q "$bin") scan 198.19.0.0/16 -p 80 --open --rate 20000 -o csv -q | tail -n +2 | wc -l"
else
  echo "(synprobe scan is not built yet; showing the lab with the kernel's own TCP instead)"
  # shellcheck disable=SC2016 # expanded by the bash inside the lab
  step "$bin" lab exec -- bash -c 'for t in 198.18.10.10:80 198.18.10.10:81 198.18.14.10:80 198.19.7.7:80; do
      start=$(date +%s%N)
      if timeout 2 bash -c "exec 3<>/dev/tcp/${t%:*}/${t#*:}" 2>/dev/null; then r=open; else r=refused/filtered; fi
      echo "$t $r $(( ($(date +%s%N) - start) / 1000000 )) ms"; done'
fi
if has ping; then
  echo
  echo "# A fresh handshake every 200 ms to the slow host: about 40 ms each"
  step "$bin" lab exec -- "$bin" ping 198.18.14.10:80 -c 5 -i 200ms
fi

step "$bin" lab down
trap - EXIT
