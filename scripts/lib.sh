# Shared by scripts/run, scripts/test and .ci/run.  Sourced, not executed.

# Debian packages the build and the full test suite need.
SOCKCHAT_BUILD_DEPS="g++ meson ninja-build pkg-config cmake python3 libspdlog-dev libfmt-dev libncurses-dev libicu-dev doctest-dev libssl-dev libcrypt-dev libinih-dev libhiredis-dev"
SOCKCHAT_TEST_DEPS="strace tmux openssl mandoc groff-base man-db wireshark-common tshark iproute2 procps systemd clang libclang-rt-14-dev psmisc util-linux redis-server"

# Installs whichever of the named Debian packages are missing, with sudo when
# not root.  Does nothing (and needs no network) when all are present.
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Through env, not export: sudo drops the caller's environment, and
  # wireshark-common would otherwise stop to ask a debconf question.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build_dir DIR [meson options...]: configure once, then build.  The
# options also apply to a DIR another script configured first (scripts/run
# sets up build/ without -Dwerror=true, which scripts/test wants).
build_dir() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  elif [ $# -gt 0 ]; then
    meson configure "$dir" "$@"
  fi
  meson compile -C "$dir"
}
