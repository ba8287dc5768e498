#!/bin/bash
# The official image's contract, in short: on an empty /var/lib/mysql, create the system tables, set
# the root password, create MARIADB_DATABASE and MARIADB_USER, run /docker-entrypoint-initdb.d/*,
# then start mariadbd. The *.sh there are sourced and may use docker_process_sql (SQL on stdin, as
# root), as in the official image. Every MARIADB_X may be given as MARIADB_X_FILE (a Docker secret)
# or MYSQL_X.
set -euo pipefail

die() { echo "docker-entrypoint: ERROR: $*" >&2; exit 1; }

# file_env VAR: VAR from VAR, VAR_FILE, MYSQL_<...> or MYSQL_<...>_FILE (in that order).
file_env() {
  local var="$1" alt="MYSQL_${1#MARIADB_}" v=""
  for name in "$var" "$alt"; do
    local file_var="${name}_FILE"
    if [[ -n ${!name:-} && -n ${!file_var:-} ]]; then die "both $name and $file_var are set"; fi
    if [[ -n ${!name:-} ]]; then v="${!name}"; break; fi
    if [[ -n ${!file_var:-} ]]; then
      [[ -r ${!file_var} ]] || die "$file_var: cannot read ${!file_var}"
      v="$(cat "${!file_var}")"; break
    fi
  done
  printf -v "$var" '%s' "$v"
  export "${var?}"
}

sql_escape() { local s="${1//\\/\\\\}"; printf '%s' "${s//\'/\\\'}"; }

if [[ ${1:-} == mariadbd || ${1:-} == mysqld ]]; then
  datadir=/var/lib/mysql
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$datadir"
  if [[ ! -d $datadir/mysql ]]; then
    for v in MARIADB_ROOT_PASSWORD MARIADB_DATABASE MARIADB_USER MARIADB_PASSWORD; do file_env "$v"; done
    [[ -n $MARIADB_ROOT_PASSWORD || -n ${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-} ]] ||
      die "database is uninitialised and no root password is given (MARIADB_ROOT_PASSWORD[_FILE])"
    echo "docker-entrypoint: initialising $datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=normal >/dev/null
    mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    client=(mariadb --protocol=socket --socket=/run/mysqld/init.sock -uroot)
    for _ in $(seq 60); do
      mariadb-admin --socket=/run/mysqld/init.sock ping --silent >/dev/null 2>&1 && break
      kill -0 $pid 2>/dev/null || die "mariadbd exited during initialisation"
      sleep 0.5
    done
    root_pw="$(sql_escape "$MARIADB_ROOT_PASSWORD")"
    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      echo "DROP USER IF EXISTS ''@'localhost', ''@'$(hostname)', 'root'@'$(hostname)', 'root'@'127.0.0.1', 'root'@'::1';"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root_pw';"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      if [[ -n $MARIADB_DATABASE ]]; then
        echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
      fi
      if [[ -n $MARIADB_USER && -n $MARIADB_PASSWORD ]]; then
        echo "CREATE USER '$(sql_escape "$MARIADB_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
        [[ -z $MARIADB_DATABASE ]] ||
          echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$(sql_escape "$MARIADB_USER")'@'%';"
      fi
      echo "FLUSH PRIVILEGES;"
    } | "${client[@]}"
    client+=("-p$MARIADB_ROOT_PASSWORD")
    [[ -z $MARIADB_DATABASE ]] || client+=("$MARIADB_DATABASE")
    # The official image's helper for the *.sh it sources: SQL on stdin, run as root.
    docker_process_sql() { "${client[@]}" "$@"; }
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sql) echo "docker-entrypoint: running $f"; "${client[@]}" <"$f" ;;
        *.sql.gz) echo "docker-entrypoint: running $f"; gunzip -c "$f" | "${client[@]}" ;;
        *.sh) echo "docker-entrypoint: running $f"
              # shellcheck source=/dev/null
              . "$f" ;;
        *) ;;
      esac
    done
    mariadb-admin --socket=/run/mysqld/init.sock -uroot "-p$MARIADB_ROOT_PASSWORD" shutdown
    wait $pid || true
    echo "docker-entrypoint: initialisation done"
  fi
  shift
  exec mariadbd --user=mysql --datadir="$datadir" "$@"
fi
exec "$@"
