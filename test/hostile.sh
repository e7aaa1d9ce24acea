#!/usr/bin/env bash
# hostile.sh BINARY CASE: peak memory (VmHWM) and time to ready of a replica
# under a hostile table, against the MariaDB at 127.0.0.1:3306 (root, no
# password: make mysql). The figures of docs/hardening.md come from it.
#   manyrows: 400,000 rows for one name, then three more changes of it
#   openlog:  1,000,000 change-log entries written while a write transaction stays open
#   log:      the same log with no transaction open (the baseline)
set -euo pipefail
bin=$1; case=$2; db=hostile_$case
M="mysql -h127.0.0.1 -uroot"
$M -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
$M $db < "$(dirname "$0")/../plugin/dbrecords/schema/schema.sql"
$M $db -e "INSERT INTO dns_records (name,type,content) VALUES ('www.example.org','A','192.0.2.1')"
holder=
if [ "$case" = manyrows ]; then
  $M $db -e "INSERT INTO dns_records (name,type,content) SELECT 'big.example.org','A',CONCAT('10.',(seq>>16)&255,'.',(seq>>8)&255,'.',seq&255) FROM seq_1_to_400000"
elif [ "$case" = openlog ]; then
  # an open write transaction in another schema, then 1M log entries
  $M -e "CREATE DATABASE IF NOT EXISTS ${db}_other; CREATE TABLE IF NOT EXISTS ${db}_other.t (x INT)"
  ( echo "BEGIN; INSERT INTO ${db}_other.t VALUES (1); SELECT SLEEP(600);" | $M ) & holder=$!
  sleep 1
  $M $db -e "INSERT INTO dns_records_changes (name) SELECT CONCAT('n', seq, '.example.org') FROM seq_1_to_1000000"
else # log: the same log, no transaction open
  $M $db -e "INSERT INTO dns_records_changes (name) SELECT CONCAT('n', seq, '.example.org') FROM seq_1_to_1000000"
fi
port=$((20000 + RANDOM % 10000))
cat > /tmp/$db.Corefile <<C
example.org:$port {
    dbrecords {
        dsn root@tcp(127.0.0.1:3306)/$db
        refresh 1s
    }
    ready 127.0.0.1:$((port+1))
}
C
start=$(date +%s.%N)
$bin -conf /tmp/$db.Corefile > /tmp/$db.log 2>&1 & pid=$!
until curl -sf http://127.0.0.1:$((port+1))/ready >/dev/null 2>&1; do sleep 0.05; done
ready=$(echo "$(date +%s.%N) - $start" | bc)
if [ "$case" = manyrows ]; then
  for i in 1 2 3; do $M $db -e "UPDATE dns_records SET ttl = $((60+i)) WHERE name='www.example.org'; INSERT INTO dns_records (name,type,content) VALUES ('big.example.org','A','192.0.2.$i')"; sleep 2; done
fi
sleep 2
hwm=$(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')
echo "$case $(basename $(dirname $bin)): ready after ${ready}s, VmHWM $hwm; $(grep -c . /tmp/$db.log) log lines"
kill $pid; wait $pid 2>/dev/null || true
[ -n "$holder" ] && { kill $holder 2>/dev/null || true; $M -e "KILL QUERY (SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%' LIMIT 1)" 2>/dev/null || true; }
$M -e "DROP DATABASE $db; DROP DATABASE IF EXISTS ${db}_other"
