#!/usr/bin/env bash
# Makes sure a MySQL-compatible server answers at MYSQL_DSN (a go-sql-driver DSN,
# default root@tcp(127.0.0.1:3306)/). When none does, it installs MariaDB from
# Debian's packages if needed, starts it, and lets root log in over TCP with an
# empty password, which is what the tests and the demo use on a fresh machine.
set -euo pipefail

cd "$(dirname "$0")/.."
MYSQL_DSN=${MYSQL_DSN:-"root@tcp(127.0.0.1:3306)/"}
export MYSQL_DSN

dbtool() { go run ./test/dbtool "$@"; }

if dbtool ping 2>/dev/null; then
	exit 0
fi
echo "mysql.sh: no server answers at MYSQL_DSN; bringing up a local MariaDB" >&2

if ! command -v mariadbd >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y mariadb-server
fi

mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld 2>/dev/null || true
if ! pgrep -x mariadbd >/dev/null 2>&1; then
	service mariadb start >/dev/null 2>&1 ||
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi

for _ in $(seq 1 60); do
	if mariadb-admin --protocol=socket -uroot status >/dev/null 2>&1 || dbtool ping 2>/dev/null; then
		break
	fi
	sleep 1
done

if ! dbtool ping 2>/dev/null; then
	# Debian's root uses unix_socket authentication; allow TCP with an empty password too.
	mariadb --protocol=socket -uroot <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
fi

dbtool ping
