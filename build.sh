#!/usr/bin/env bash
# The two Quick start commands of the README, on Debian 12 as root:
#   ./build.sh run    install what is missing, build, run the quick start job
#   ./build.sh test   install what is missing, build, run the whole test suite
# Both are idempotent: with everything in place they only rebuild what changed.
set -euo pipefail
cd "$(dirname "$0")"

# Libraries and tools needed to build has.
BUILD_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config git
  libcli11-dev libfmt-dev libsqlite3-dev libyaml-cpp-dev libcurl4-openssl-dev
  nlohmann-json3-dev liblua5.4-dev libxml2-dev
  libssl-dev libpq-dev libcpp-httplib-dev
)
# What the test suite adds: test libraries and the real services it starts.
TEST_PACKAGES=(
  doctest-dev sqlite3 procps openssl python3 curl util-linux nginx-light monitoring-plugins-basic redis-server chromium chromium-driver fonts-liberation
  postgresql postgresql-client prometheus prometheus-alertmanager openssh-server graphviz dnsmasq-base
)

BUILD_DIR=${HAS_BUILD_DIR:-build}

install_missing() {
  local missing=()
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: missing packages: ${missing[*]}" >&2
    echo "  help: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 69
  fi
  echo "build.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  local tests=$1
  local werror=OFF
  if [ -n "${CI:-}" ]; then werror=ON; fi
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DHAS_WERROR="$werror" -DHAS_TESTS="$tests"
  else
    cmake -S . -B "$BUILD_DIR" -DHAS_WERROR="$werror" -DHAS_TESTS="$tests" >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$(nproc)"
}

case "${1:-}" in
  run)
    install_missing "${BUILD_PACKAGES[@]}"
    build OFF
    "$BUILD_DIR/bin/has" -C examples/quickstart inspect run
    ;;
  test)
    install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    build ON
    ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 -j "$(nproc)"
    ;;
  *)
    echo "usage: ./build.sh run|test" >&2
    exit 64
    ;;
esac
