#!/usr/bin/env bash
# gen-proto.sh regenerates the Go code of every proto/cohort/v1/*.proto with a pinned protoc and
# pinned plugins, so that the committed *.pb.go files are byte-identical on every machine.
#
#   scripts/gen-proto.sh           regenerate proto/cohort/v1/*.pb.go in place
#   scripts/gen-proto.sh --check   regenerate into a temp dir and diff against the committed files
#                                  (exit 1 on any difference, missing or stale file)
#
# protoc comes from Debian (protobuf-compiler, plus libprotobuf-dev for the well-known types) and is
# installed with apt-get when missing; the plugins are built with `go install` into <repo>/.bin.
# The versions are pinned below: a different protoc writes a different header line, so the script
# refuses to run with any other.
set -euo pipefail

PROTOC_VERSION="libprotoc 3.21.12"            # Debian bookworm protobuf-compiler 3.21.12-3+deb12u1
PROTOC_GEN_GO_VERSION="v1.36.12"              # google.golang.org/protobuf, same as go.mod
PROTOC_GEN_GO_GRPC_VERSION="v1.5.1"           # google.golang.org/grpc/cmd/protoc-gen-go-grpc; needs grpc >= 1.64
WKT_INCLUDE="/usr/include"                    # google/protobuf/*.proto from libprotobuf-dev

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="proto"                               # import root: files are named cohort/v1/<x>.proto
pkg_dir="cohort/v1"
bin_dir="$repo/.bin"

mode="gen"
case "${1:-}" in
  "") ;;
  --check) mode="check" ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

export PATH="$bin_dir:$PATH:/usr/local/go/bin"

ensure_protoc() {
  if ! command -v protoc >/dev/null 2>&1 || [[ ! -f "$WKT_INCLUDE/google/protobuf/timestamp.proto" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "gen-proto: protoc or libprotobuf-dev missing; install them: apt-get install -y protobuf-compiler libprotobuf-dev" >&2
      exit 1
    fi
    echo "gen-proto: installing protobuf-compiler and libprotobuf-dev with apt-get" >&2
    # The lock timeout lets the script wait for another apt run instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      protobuf-compiler libprotobuf-dev >/dev/null
  fi
  local got
  got="$(protoc --version)"
  echo "gen-proto: $got" >&2
  if [[ "$got" != "$PROTOC_VERSION" ]]; then
    echo "gen-proto: protoc is \"$got\", want \"$PROTOC_VERSION\" (the generated headers would differ)" >&2
    exit 1
  fi
}

# ensure_plugin NAME MODULE_PATH VERSION VERSION_LINE builds the plugin into .bin unless the one
# there already reports VERSION_LINE.
ensure_plugin() {
  local name="$1" pkg="$2" version="$3" want="$4" got=""
  if [[ -x "$bin_dir/$name" ]]; then
    got="$("$bin_dir/$name" --version 2>/dev/null || true)"
  fi
  if [[ "$got" != "$want" ]]; then
    echo "gen-proto: go install $pkg@$version" >&2
    GOBIN="$bin_dir" GOFLAGS=-buildvcs=false go install "$pkg@$version"
    got="$("$bin_dir/$name" --version)"
  fi
  echo "gen-proto: $got" >&2
  if [[ "$got" != "$want" ]]; then
    echo "gen-proto: $name reports \"$got\", want \"$want\"" >&2
    exit 1
  fi
}

# generate OUT runs protoc over every .proto of the package, writing OUT/cohort/v1/*.pb.go.
generate() {
  local out="$1"
  local -a files
  mapfile -t files < <(cd "$repo/$src_dir" && LC_ALL=C ls "$pkg_dir"/*.proto)
  if [[ ${#files[@]} -eq 0 ]]; then
    echo "gen-proto: no .proto files in $src_dir/$pkg_dir" >&2
    exit 1
  fi
  mkdir -p "$out/$pkg_dir"
  (cd "$repo/$src_dir" && protoc \
    -I . -I "$WKT_INCLUDE" \
    --plugin=protoc-gen-go="$bin_dir/protoc-gen-go" \
    --plugin=protoc-gen-go-grpc="$bin_dir/protoc-gen-go-grpc" \
    --go_out="$out" --go_opt=paths=source_relative \
    --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
    "${files[@]}")
}

ensure_protoc
ensure_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go \
  "$PROTOC_GEN_GO_VERSION" "protoc-gen-go $PROTOC_GEN_GO_VERSION"
ensure_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
  "$PROTOC_GEN_GO_GRPC_VERSION" "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
generate "$tmp"

committed="$repo/$src_dir/$pkg_dir"
if [[ "$mode" == "check" ]]; then
  # Compare the sets of generated files too, so a stale .pb.go of a deleted .proto is caught.
  status=0
  diff -u <(cd "$tmp/$pkg_dir" && LC_ALL=C ls -- *.pb.go) \
          <(cd "$committed" && LC_ALL=C ls -- *.pb.go 2>/dev/null || true) >&2 || status=1
  for f in "$tmp/$pkg_dir"/*.pb.go; do
    name="$(basename "$f")"
    if [[ -f "$committed/$name" ]]; then
      diff -u "$committed/$name" "$f" >&2 || status=1
    fi
  done
  if [[ $status -ne 0 ]]; then
    echo "gen-proto: generated code in $src_dir/$pkg_dir is out of date; run scripts/gen-proto.sh" >&2
    exit 1
  fi
  echo "gen-proto: $src_dir/$pkg_dir is up to date" >&2
  exit 0
fi

# Replace the generated files as a set, so the .pb.go of a removed .proto goes too.
rm -f "$committed"/*.pb.go
cp "$tmp/$pkg_dir"/*.pb.go "$committed/"
echo "gen-proto: wrote $(cd "$tmp/$pkg_dir" && ls *.pb.go | tr '\n' ' ')" >&2
