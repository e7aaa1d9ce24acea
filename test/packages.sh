#!/usr/bin/env bash
# Makes sure the Debian packages the tests use are installed, as mysql.sh does
# for MariaDB. Arguments are COMMAND:PACKAGE pairs; a package is installed
# (after one apt-get update) only when its command is missing (a COMMAND
# starting with / is a path that the package installs).
#
#     bash test/packages.sh knotd:knot delv:bind9-dnsutils
set -euo pipefail

missing=()
for pair in "$@"; do
	cmd=${pair%%:*} pkg=${pair#*:}
	if [ "${cmd#/}" != "$cmd" ]; then
		[ -e "$cmd" ] || missing+=("$pkg")
	elif ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "packages.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
