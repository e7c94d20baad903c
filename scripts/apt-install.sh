#!/usr/bin/env bash
# Install Debian packages the tests need, once: the ones whose files are
# already there are skipped, so a machine set up before needs neither root
# nor the network. Usage: scripts/apt-install.sh PACKAGE...
set -euo pipefail

missing=()
for pkg in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "apt-install: ${missing[*]} missing; run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "apt-install: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be stale or absent.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
