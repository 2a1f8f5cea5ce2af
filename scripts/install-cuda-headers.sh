#!/usr/bin/env bash
# Installs the CUDA 11.8 development headers (Debian bookworm contrib/non-free
# nvidia-cuda-dev) that gorgonia.org/cu v0.9.6 compiles against; it does not
# build against CUDA 12/13 headers. With --toolkit it also installs nvcc
# (nvidia-cuda-toolkit), which only scripts/gen-ptx.sh needs: the PTX is
# committed, so CI installs the headers alone.
#
# Idempotent: does nothing when the packages are already installed. Needs root
# (or sudo) and network access to the Debian mirror.
set -euo pipefail

want=(nvidia-cuda-dev)
if [ "${1:-}" = "--toolkit" ]; then
  want+=(nvidia-cuda-toolkit)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1; then missing+=("$p"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-cuda-headers: ${want[*]} already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# contrib/non-free carry the CUDA packages; add them next to the stock
# bookworm source, reusing its URIs and keyring.
src=/etc/apt/sources.list.d/cohort-cuda.sources
if [ ! -f "$src" ]; then
  uris=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  uris=${uris:-http://deb.debian.org/debian}
  $sudo tee "$src" >/dev/null <<SRC
Types: deb
URIs: $uris
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

# Wait for another apt/dpkg run instead of failing on its lock.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
start=$(date +%s)
$sudo apt-get "${apt_opts[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"
echo "install-cuda-headers: installed ${missing[*]} in $(( $(date +%s) - start ))s"
