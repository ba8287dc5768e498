#!/bin/bash
# The least-privilege MySQL user of mysqld_exporter, from the my.cnf in the secret
# mysqld_exporter_cnf (user, password; made by stack/deploy): created or brought up to date, with
# only what the exporter's default collectors read (status and variables: no grant needed; the
# process list: PROCESS; replication status: REPLICATION CLIENT and SLAVE MONITOR; the
# performance_schema tables: SELECT there) and a few connections at most.
# Two ways in, one statement list:
# - sourced by the db image's entrypoint from /docker-entrypoint-initdb.d on an empty data directory:
#   root through the image's docker_process_sql (the official image's; the stand-in has the same);
# - run by stack/deploy in a one-shot task on the backend network (`bash 02-exporter-user.sh`), for
#   a database initialised before this user existed, or after the secret changed: root from the
#   db_root_password secret, over TCP to DB_HOST.
# Environment: MYSQLD_EXPORTER_CNF_FILE (/run/secrets/mysqld_exporter_cnf), and when run:
# DB_HOST (db), DB_ROOT_PASSWORD_FILE (/run/secrets/db_root_password).

exporter_user_sql() {
  local cnf="${MYSQLD_EXPORTER_CNF_FILE:-/run/secrets/mysqld_exporter_cnf}" user password
  if [[ ! -r $cnf ]]; then
    echo "02-exporter-user: no $cnf: no exporter user (stack/deploy creates the secret)" >&2
    return 1
  fi
  user="$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*//p' "$cnf" | head -n 1)"
  password="$(sed -n 's/^[[:space:]]*password[[:space:]]*=[[:space:]]*//p' "$cnf" | head -n 1)"
  password="${password#\"}" && password="${password%\"}"
  if [[ ! $user =~ ^[A-Za-z0-9_]+$ || ! $password =~ ^[A-Za-z0-9]+$ ]]; then
    echo "02-exporter-user: $cnf needs user=<letters, digits, _> and password=<letters, digits>" >&2
    return 1
  fi
  cat <<SQL
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password' WITH MAX_USER_CONNECTIONS 3;
ALTER USER '$user'@'%' IDENTIFIED BY '$password' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '$user'@'%';
GRANT SELECT ON performance_schema.* TO '$user'@'%';
SQL
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  # Sourced by the entrypoint (set -e there): a failure stops the initialisation, loudly.
  echo "02-exporter-user: creating the exporter's user"
  exporter_user_sql | docker_process_sql
else
  set -euo pipefail
  root_file="${DB_ROOT_PASSWORD_FILE:-/run/secrets/db_root_password}"
  [[ -f $root_file && -r $root_file ]] || { echo "02-exporter-user: cannot read $root_file" >&2; exit 1; }
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' EXIT
  pw="$(cat "$root_file")"
  pw="${pw//\\/\\\\}"
  printf '[client]\nuser=root\npassword="%s"\nhost=%s\n' "${pw//\"/\\\"}" "${DB_HOST:-db}" >"$dir/root.cnf"
  sql="$(exporter_user_sql)"
  # A task started by the deploy may come before the database answers.
  for _ in $(seq 60); do
    mariadb-admin --defaults-extra-file="$dir/root.cnf" --connect-timeout=5 ping >/dev/null 2>&1 && break
    sleep 5
  done
  mariadb --defaults-extra-file="$dir/root.cnf" <<<"$sql"
  echo "02-exporter-user: the exporter's user is up to date on ${DB_HOST:-db}"
fi
