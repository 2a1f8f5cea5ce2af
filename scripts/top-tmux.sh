#!/usr/bin/env bash
# top-tmux.sh checks `cohort top` on a real terminal: it runs TestTopUnderTmux, which starts an
# embedded etcd with two registered workers, runs `cohort top` in a tmux pane, captures the screen,
# checks it shows the workers with a GPU row and a CPU row, and quits with q.
#
#   scripts/top-tmux.sh
#
# tmux is installed with apt-get when missing (as root); CI=true makes the test fail rather than
# skip if tmux is still absent.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"

if ! command -v tmux >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "top-tmux: tmux missing; install it (apt-get install -y tmux)" >&2
    exit 1
  fi
  echo "top-tmux: installing tmux with apt-get" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq tmux >/dev/null
fi
cd "$repo"
CI=true go test -count=1 -run '^TestTopUnderTmux$' -v ./cmd/cohort
