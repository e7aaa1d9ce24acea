#!/bin/sh
# ACME DNS-01 through the dbrecords table: writes the challenge's TXT row,
# which every replica serves about a second later, and removes it afterwards.
#
#   lego (exec provider):  EXEC_PATH=dns01-hook.sh lego --dns exec ...
#                          (lego runs: dns01-hook.sh present|cleanup FQDN VALUE)
#   certbot (manual):      certbot certonly --manual --preferred-challenges dns \
#                            --manual-auth-hook "dns01-hook.sh certbot-auth" \
#                            --manual-cleanup-hook "dns01-hook.sh certbot-cleanup" ...
#                          (certbot sets CERTBOT_DOMAIN and CERTBOT_VALIDATION)
#
# DBRECORDS_MYSQL is the mysql command line that reaches the database with an
# account that may INSERT and DELETE on the table, e.g.
#   DBRECORDS_MYSQL="mysql --defaults-extra-file=/etc/dbrecords/writer.cnf dns"
# (keep the password in that file, not on the command line). DBRECORDS_TABLE
# is the table (default dns_records); DBRECORDS_WAIT the seconds certbot's
# auth hook waits for the replicas (default 2).
set -eu

mysql_cmd=${DBRECORDS_MYSQL:-mysql}
table=${DBRECORDS_TABLE:-dns_records}

case "${1:-}" in
present | cleanup)
	action=$1 name=${2:-} value=${3:-}
	;;
certbot-auth | certbot-cleanup)
	action=present
	[ "$1" = certbot-cleanup ] && action=cleanup
	name="_acme-challenge.${CERTBOT_DOMAIN:-}." value=${CERTBOT_VALIDATION:-}
	;;
*)
	echo "usage: $0 present|cleanup FQDN VALUE, or certbot-auth|certbot-cleanup" >&2
	exit 2
	;;
esac

# Both go into SQL: accept only what ACME makes (a host name, a base64url digest).
case "$name" in '' | *[!A-Za-z0-9._-]*) echo "$0: unexpected name '$name'" >&2; exit 2 ;; esac
case "$value" in '' | *[!A-Za-z0-9_-]*) echo "$0: unexpected value" >&2; exit 2 ;; esac
case "$table" in *[!A-Za-z0-9_]*) echo "$0: unexpected table '$table'" >&2; exit 2 ;; esac

if [ "$action" = present ]; then
	$mysql_cmd -e "INSERT INTO $table (name, type, content, ttl) VALUES ('$name', 'TXT', '\"$value\"', 60)"
	case "$1" in certbot-*) sleep "${DBRECORDS_WAIT:-2}" ;; esac
else
	$mysql_cmd -e "DELETE FROM $table WHERE name IN ('$name', TRIM(TRAILING '.' FROM '$name')) AND type = 'TXT' AND content = '\"$value\"'"
fi
