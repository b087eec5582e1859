#!/usr/bin/env bash
# make demo: bring the namespace lab up, show synprobe working against it,
# bring it down again (also on error or Ctrl-C). Needs root.
set -euo pipefail
bin=${1:-bin/synprobe}
if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root (the lab creates network namespaces): sudo make demo" >&2
  exit 3
fi
trap '"$bin" lab down >/dev/null 2>&1 || true' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$bin" lab up
if "$bin" scan --help >/dev/null 2>&1; then
  step "$bin" lab exec -- "$bin" scan 198.18.3.10 198.18.10.10 198.18.11.10 198.18.12.10 198.18.13.10 198.18.16.10 -p 22,23,25,80,443,445
  step "$bin" lab exec -- "$bin" ping 198.18.14.10:80 -c 5 -i 200ms
else
  echo "(synprobe scan is not built yet; showing the lab with the kernel's own TCP instead)"
  step "$bin" lab exec -- bash -c 'for t in 198.18.10.10:80 198.18.10.10:81 198.18.14.10:80 198.19.7.7:80; do
      start=$(date +%s%N)
      if timeout 2 bash -c "exec 3<>/dev/tcp/${t%:*}/${t#*:}" 2>/dev/null; then r=open; else r=refused/filtered; fi
      echo "$t $r $(( ($(date +%s%N) - start) / 1000000 )) ms"; done'
fi
step "$bin" lab down
trap - EXIT
