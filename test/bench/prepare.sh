#!/usr/bin/env bash
# Installs what `make bench` measures with, from Debian's packages, when missing:
# dnsperf (the load generator), taskset (util-linux), and PowerDNS with its
# MySQL backend (the peer we compare against; the bench skips it if apt
# cannot install it).
set -uo pipefail

missing=()
command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v pdns_server >/dev/null 2>&1 || missing+=(pdns-server pdns-backend-mysql)
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
apt-get update >/dev/null
apt-get install -y --no-install-recommends dnsperf util-linux || exit 1
# pdns-server's package scripts try to start the service; the bench runs its own.
apt-get install -y --no-install-recommends pdns-server pdns-backend-mysql ||
	echo "prepare.sh: PowerDNS could not be installed; the bench runs without it" >&2
# Do not leave a system PowerDNS on port 53.
(service pdns stop || pkill -x pdns_server) >/dev/null 2>&1
exit 0
