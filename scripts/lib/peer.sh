# shellcheck shell=bash
# scripts/lib/peer.sh: the Python peer of the benchmark scripts, sourced by
# them (`. "$(dirname "$0")/lib/peer.sh"`), never run on its own.
#
# The bench-*.sh scripts compare cohort with a Python library on the same
# machine: PyTorch (with the pthread OpenBLAS), pandas or Optuna. Each used
# to carry its own copy of the code that installs that peer and picks the
# interpreter; this file is the one copy, so that every benchmark measures
# the same peer in the same way:
#
#   - the peer is Debian's packages (python3-torch, python3-pandas, ...),
#     installed with apt-get when missing, not whatever pip put on PATH;
#   - it runs under Debian's own interpreter, PEER_PY (/usr/bin/python3),
#     whatever python3 a virtualenv or PATH would give;
#   - its thread pools are pinned the same way everywhere (peer_threads).
#
# Interface:
#   PEER_PY                   the interpreter to run the peer with.
#   peer_install [-OPT...] PKG...
#                             installs those of the Debian packages PKG that
#                             are not installed (apt-get update once per
#                             shell, then apt-get install; sudo unless root).
#                             Arguments that start with "-" go to apt-get
#                             install (e.g. --no-install-recommends). It says
#                             "<script>: installing PKG..." on stderr, and
#                             fails with a message when it cannot install.
#   peer_threads N            exports OMP_NUM_THREADS, OPENBLAS_NUM_THREADS
#                             and MKL_NUM_THREADS=N and OMP_WAIT_POLICY=PASSIVE
#                             (idle OpenMP threads sleep instead of spinning on
#                             cores the other side may want). It changes the
#                             calling shell: call it in a subshell, e.g.
#                             out=$(peer_threads 2; "$PEER_PY" x.py) or
#                             ( peer_threads 1; exec "$PEER_PY" x.py ) &

PEER_PY=/usr/bin/python3

# _peer_name: the name the messages carry, the script's without ".sh".
_peer_name() {
	local n=${0##*/}
	echo "${n%.sh}"
}

# _peer_installed PKG: whether dpkg has PKG installed.
_peer_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

_peer_apt_updated=""

peer_install() {
	local opts=() missing=() p sudo="" name
	name=$(_peer_name)
	for p in "$@"; do
		case $p in
		-*) opts+=("$p") ;;
		*) _peer_installed "$p" || missing+=("$p") ;;
		esac
	done
	[ ${#missing[@]} -gt 0 ] || return 0

	if ! command -v apt-get >/dev/null 2>&1; then
		echo "$name: missing ${missing[*]}, and there is no apt-get to install them with; install them by hand (the peer is Debian's packages, run by $PEER_PY)" >&2
		return 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "$name: missing ${missing[*]}; not root and no sudo, install them by hand: apt-get install ${missing[*]}" >&2
			return 1
		fi
		sudo=sudo
	fi

	echo "$name: installing ${missing[*]}" >&2
	if [ -z "$_peer_apt_updated" ]; then
		$sudo apt-get update -qq || return
		_peer_apt_updated=1
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
		"${opts[@]}" "${missing[@]}" >&2 || return
}

peer_threads() {
	export OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1" MKL_NUM_THREADS="$1" OMP_WAIT_POLICY=PASSIVE
}
