#!/bin/sh
# Installs the Debian packages sluice builds and tests with, when they are
# missing. Idempotent and quiet: a machine that has everything is left alone.
# Services the packages bring (nginx, squid, danted, tinyproxy, microsocks,
# varnish and varnishncsa) are neither started nor left enabled: the tests
# and benchmarks start their own instances.
set -eu

PKGS="build-essential pkg-config libssl-dev libev-dev libjansson-dev \
libc-ares-dev libcriterion-dev openssl ca-certificates nginx libnginx-mod-stream squid \
dante-server microsocks tinyproxy varnish curl wrk python3 python3-pytest python3-jsonschema clang \
libclang-rt-14-dev iproute2 procps"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "deps: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting services while we install.
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	own_policy=1
	# Removed however the install ends.
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if [ "$own_policy" = 1 ]; then
	$SUDO rm -f /usr/sbin/policy-rc.d
	trap - EXIT
fi

# Whatever the packages enabled or started, stop and disable it through the
# service manager only: servers of the same name that somebody else runs
# (a developer's own nginx) are not ours to stop.
for s in nginx squid danted tinyproxy microsocks varnish varnishncsa; do
	if command -v systemctl >/dev/null 2>&1; then
		$SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
	fi
	if [ -x "/etc/init.d/$s" ]; then
		$SUDO "/etc/init.d/$s" stop >/dev/null 2>&1 || true
		$SUDO update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
done
echo "deps: done"
