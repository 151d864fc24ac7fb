#!/bin/bash
# This node's PostgreSQL, as one line of JSON, for tasks/replication.yml
# (run as postgres; reads only, changes nothing):
#   replication-state.sh DATA_DIR BIN_DIR PORT DB_ADDRESS DB_NAME REPLICATION_USER
# online, in_recovery: the local server (over its Unix socket);
# system_identifier, timeline: from pg_control (also when it is stopped; ""
#   and 0 without a data directory);
# databases: databases other than postgres and the templates; has_db: DB_NAME exists;
# holds_db_address: DB_ADDRESS is on one of this node's interfaces (vipd's db master);
# db_address: what answers at DB_ADDRESS ("primary", "standby" or "none") and its
#   system identifier (as REPLICATION_USER, password from ~/.pgpass).
set -u
data=$1 bin=$2 port=$3 db_address=$4 db_name=$5 repl_user=$6
online=false recovery=false sysid="" timeline=0 databases=0 has_db=false holds=false
answer=none answer_sysid=""
if [ -f "$data/PG_VERSION" ]; then
    ctl=$("$bin/pg_controldata" -D "$data" 2>/dev/null)
    sysid=$(sed -n 's/^Database system identifier: *//p' <<<"$ctl")
    timeline=$(sed -n "s/^Latest checkpoint's TimeLineID: *//p" <<<"$ctl")
fi
if out=$(psql -XAtq -p "$port" -d postgres -c "SELECT pg_is_in_recovery(),
        (SELECT count(*) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')),
        (SELECT count(*) FROM pg_database WHERE datname = '$db_name')" 2>/dev/null); then
    online=true
    IFS='|' read -r r databases n <<<"$out"
    [ "$r" = t ] && recovery=true
    [ "$n" = 1 ] && has_db=true
fi
if [ -n "$db_address" ]; then
    if ip -o -4 addr show | grep -qF " inet $db_address/"; then holds=true; fi
    if out=$(psql -XAtq "host=$db_address port=$port dbname=postgres user=$repl_user connect_timeout=2" \
            -c "SELECT pg_is_in_recovery(), system_identifier FROM pg_control_system()" 2>/dev/null); then
        IFS='|' read -r r answer_sysid <<<"$out"
        answer=primary; [ "$r" = t ] && answer=standby
    fi
fi
printf '{"online": %s, "in_recovery": %s, "system_identifier": "%s", "timeline": %d, "databases": %d, "has_db": %s, "holds_db_address": %s, "db_address": "%s", "db_address_system_identifier": "%s"}\n' \
    "$online" "$recovery" "$sysid" "${timeline:-0}" "${databases:-0}" "$has_db" "$holds" "$answer" "$answer_sysid"
