#!/bin/bash
# The database's backups: the stack's `db-backup` service runs `backup.sh serve`; stack/restore runs
# the other commands in one-shot tasks of the same image, secrets and volume.
#
#   backup.sh serve            a backup at start, then every BACKUP_INTERVAL; /metrics on METRICS_PORT
#   backup.sh once             one backup now; exit 1 if it failed
#   backup.sh list             the backups on the volume, newest first: name, bytes, finished (UTC)
#   backup.sh restore [NAME]   gunzip | mariadb into DB_NAME: NAME, or the newest backup
#
# It runs in the db image (DB_IMAGE): its mariadb-dump is the server's own version, the image is
# already on the data node, and the perl-base every Debian and Ubuntu image carries is enough to
# serve a metrics page. No image of our own to build, push and keep patched for ~150 lines.
#
# Rules:
# - A backup is `mariadb-dump --single-transaction` (a consistent InnoDB snapshot without locking
#   the application out) piped through gzip into a hidden temporary file on the volume, checked
#   (gzip's CRC, mariadb-dump's closing "Dump completed" line), then renamed: a failed or
#   interrupted dump never replaces or deletes a good backup. Only after a success are the oldest
#   removed beyond BACKUP_KEEP.
# - One backup or restore at a time (flock on the volume): a backup taken now waits for a running one.
# - The metrics are a file on the volume, rewritten (temp file + rename) after every attempt by
#   whichever process made it, so they survive a restart and count one-shot backups too.
# - After a failure the next attempt comes after BACKUP_RETRY, not a whole interval.
#
# Environment: BACKUP_INTERVAL (6h; a number with s, m, h or d), BACKUP_KEEP (14), BACKUP_RETRY
# (10m), BACKUP_DIR (/backups), DB_HOST (db), DB_NAME (school), DB_USER (root),
# DB_PASSWORD_FILE (/run/secrets/db_root_password), METRICS_PORT (9105).
set -euo pipefail

BACKUP_DIR="${BACKUP_DIR:-/backups}"
DB_HOST="${DB_HOST:-db}"
DB_NAME="${DB_NAME:-school}"
DB_USER="${DB_USER:-root}"
DB_PASSWORD_FILE="${DB_PASSWORD_FILE:-/run/secrets/db_root_password}"
METRICS_PORT="${METRICS_PORT:-9105}"
METRICS="$BACKUP_DIR/.metrics.prom"
LOCK="$BACKUP_DIR/.lock"

die() { echo "db-backup: ERROR: $*" >&2; exit 1; }
log() { echo "db-backup: $(date -u +%FT%TZ) $*" >&2; }

seconds_of() { # 90, 90s, 15m, 6h, 1d -> seconds
  [[ $1 =~ ^([0-9]+)([smhd]?)$ ]] || die "'$1' is not a duration (a number with s, m, h or d)"
  local n="${BASH_REMATCH[1]}"
  case "${BASH_REMATCH[2]}" in
    m) n=$((n * 60)) ;; h) n=$((n * 3600)) ;; d) n=$((n * 86400)) ;; *) ;;
  esac
  ((n > 0)) || die "'$1' must be longer than 0 seconds"
  echo "$n"
}
interval="$(seconds_of "${BACKUP_INTERVAL:-6h}")"
retry="$(seconds_of "${BACKUP_RETRY:-10m}")"
keep="${BACKUP_KEEP:-14}"
[[ $keep =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP must be a number of backups, at least 1 (not '$keep')"
[[ $DB_NAME =~ ^[A-Za-z0-9_]+$ ]] || die "DB_NAME '$DB_NAME' is not a plain database name"

# The client's options file, private to this container: the password never shows in `ps` or the
# environment.
client_cnf() {
  [[ -f $DB_PASSWORD_FILE && -r $DB_PASSWORD_FILE ]] || die "cannot read the password secret $DB_PASSWORD_FILE"
  local dir pw
  dir="$(mktemp -d)"
  pw="$(cat "$DB_PASSWORD_FILE")"
  pw="${pw//\\/\\\\}"
  printf '[client]\nuser=%s\npassword="%s"\nhost=%s\n' "$DB_USER" "${pw//\"/\\\"}" "$DB_HOST" >"$dir/client.cnf"
  echo "$dir/client.cnf"
}

backups() { # newest first
  find "$BACKUP_DIR" -maxdepth 1 -type f -name "$DB_NAME-*.sql.gz" -printf '%f\n' | sort -r
}

metric() { # name -> its value in the metrics file, or the default given
  local v=""
  [[ -f $METRICS ]] && v="$(awk -v m="$1" '$1 == m {print $2; exit}' "$METRICS")"
  echo "${v:-$2}"
}

# write_metrics ok|failed|none DURATION: the file Prometheus reads, from this attempt (none: at
# start, before any) and the previous file.
write_metrics() {
  local result="$1" duration="$2" now ok newest size=0 last_success failures successes
  now="$(date +%s)"
  newest="$(backups | head -n1)"
  failures="$(metric mariadb_backup_failures_total 0)"
  successes="$(metric mariadb_backup_successes_total 0)"
  case "$result" in
    ok) ok=1; successes=$((successes + 1)) ;;
    failed) ok=0; failures=$((failures + 1)) ;;
    *) ok="$(metric mariadb_backup_last_attempt_ok 1)"; now="$(metric mariadb_backup_last_attempt_timestamp_seconds 0)" ;;
  esac
  # The newest good backup on the volume, whoever made it: after a restart, what is there counts.
  last_success=0
  if [[ -n $newest ]]; then
    last_success="$(stat -c %Y "$BACKUP_DIR/$newest")"
    size="$(stat -c %s "$BACKUP_DIR/$newest")"
  fi
  [[ $result == ok ]] || duration="$(metric mariadb_backup_last_duration_seconds 0)"
  {
    echo "# HELP mariadb_backup_last_success_timestamp_seconds When the newest good backup of the database was written (0: none yet)."
    echo "# TYPE mariadb_backup_last_success_timestamp_seconds gauge"
    echo "mariadb_backup_last_success_timestamp_seconds $last_success"
    echo "# HELP mariadb_backup_last_attempt_timestamp_seconds When the last backup attempt ended, good or not."
    echo "# TYPE mariadb_backup_last_attempt_timestamp_seconds gauge"
    echo "mariadb_backup_last_attempt_timestamp_seconds $now"
    echo "# HELP mariadb_backup_last_attempt_ok Whether the last backup attempt succeeded (1) or failed (0)."
    echo "# TYPE mariadb_backup_last_attempt_ok gauge"
    echo "mariadb_backup_last_attempt_ok $ok"
    echo "# HELP mariadb_backup_last_size_bytes Compressed size of the newest good backup."
    echo "# TYPE mariadb_backup_last_size_bytes gauge"
    echo "mariadb_backup_last_size_bytes $size"
    echo "# HELP mariadb_backup_last_duration_seconds How long the last good backup took (dump, compression, checks)."
    echo "# TYPE mariadb_backup_last_duration_seconds gauge"
    echo "mariadb_backup_last_duration_seconds $duration"
    echo "# HELP mariadb_backup_failures_total Backup attempts that failed (the good backups stayed as they were)."
    echo "# TYPE mariadb_backup_failures_total counter"
    echo "mariadb_backup_failures_total $failures"
    echo "# HELP mariadb_backup_successes_total Backups written."
    echo "# TYPE mariadb_backup_successes_total counter"
    echo "mariadb_backup_successes_total $successes"
    echo "# HELP mariadb_backup_kept Backups on the volume (BACKUP_KEEP at most)."
    echo "# TYPE mariadb_backup_kept gauge"
    echo "mariadb_backup_kept $(backups | wc -l)"
  } >"$METRICS.tmp"
  mv -f "$METRICS.tmp" "$METRICS"
}

# One backup, under the lock. Returns 1 on failure (counted in the metrics), leaving the good ones.
backup() {
  local started cnf name tmp status=0 t0
  started="$(date +%s)"
  t0="$(date +%s%N)"
  mkdir -p "$BACKUP_DIR"
  exec {lock_fd}>"$LOCK"
  flock "$lock_fd"
  # Leftovers of an interrupted dump (a killed task); never a finished backup.
  find "$BACKUP_DIR" -maxdepth 1 -type f -name ".$DB_NAME-*.sql.gz.tmp" -delete
  name="$DB_NAME-$(date -u -d "@$started" +%Y%m%dT%H%M%SZ).sql.gz"
  tmp="$BACKUP_DIR/.$name.tmp"
  cnf="$(client_cnf)"
  log "backing up $DB_NAME on $DB_HOST to $name"
  mariadb-dump --defaults-extra-file="$cnf" --single-transaction --quick --routines --triggers --events \
      --hex-blob "$DB_NAME" | gzip -6 >"$tmp" || status=$?
  if [[ $status -eq 0 ]] && ! gzip -t "$tmp"; then
    log "the compressed dump does not check"; status=1
  fi
  if [[ $status -eq 0 ]] && ! gzip -dc "$tmp" | tail -n 1 | grep -q '^-- Dump completed'; then
    log "the dump has no closing 'Dump completed' line: cut short"; status=1
  fi
  rm -rf "$(dirname "$cnf")"
  if [[ $status -ne 0 ]]; then
    rm -f "$tmp"
    write_metrics failed 0
    exec {lock_fd}>&-
    log "backup FAILED (exit $status); the previous backups are kept: $(backups | head -n1)"
    return 1
  fi
  sync "$tmp" 2>/dev/null || sync
  mv "$tmp" "$BACKUP_DIR/$name"
  local old
  backups | tail -n "+$((keep + 1))" | while read -r old; do
    rm -f "$BACKUP_DIR/$old"
    log "removed $old (BACKUP_KEEP=$keep)"
  done
  local ms=$((($(date +%s%N) - t0) / 1000000))
  write_metrics ok "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  exec {lock_fd}>&-
  log "backup $name written ($(stat -c %s "$BACKUP_DIR/$name") bytes, ${ms} ms); $(backups | wc -l) kept"
}

# /metrics: the file the last attempt wrote, plus this process' interval. One client at a time with
# a 5 s deadline each: Prometheus is the only client, and a stuck one must not stop the next scrape.
serve_metrics() {
  exec perl -MIO::Socket::INET -e '
    my ($port, $file, $interval) = @ARGV;
    $SIG{PIPE} = "IGNORE";
    my $srv = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $port, Listen => 16,
                                    ReuseAddr => 1, Proto => "tcp") or die "db-backup: cannot listen on :$port: $!\n";
    while (1) {
      my $c = $srv->accept or next;
      eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        my $req = <$c> // "";
        while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
        my ($status, $body) = ("404 Not Found", "not found: try /metrics\n");
        if ($req =~ m{^GET /metrics[ ?]}) {
          $body = "";
          if (open(my $f, "<", $file)) { local $/; $body = <$f> // ""; close $f }
          $body .= "# HELP mariadb_backup_interval_seconds Time between scheduled backups (BACKUP_INTERVAL).\n"
                 . "# TYPE mariadb_backup_interval_seconds gauge\nmariadb_backup_interval_seconds $interval\n";
          $status = "200 OK";
        }
        print $c "HTTP/1.0 $status\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
               . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
        alarm 0;
      };
      close $c;
    }' "$METRICS_PORT" "$METRICS" "$interval"
}

wait_for_db() { # up to $1 seconds
  local cnf deadline=$((SECONDS + $1)) ok=1
  cnf="$(client_cnf)"
  until mariadb-admin --defaults-extra-file="$cnf" --connect-timeout=5 ping >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then ok=0; break; fi
    sleep 5
  done
  rm -rf "$(dirname "$cnf")"
  [[ $ok == 1 ]]
}

serve() {
  mkdir -p "$BACKUP_DIR"
  # Before the first attempt, the metrics say what the volume holds (not an absent series).
  write_metrics none 0
  serve_metrics &
  local server=$! sleeper=""
  trap 'kill "$server" ${sleeper:+"$sleeper"} 2>/dev/null; exit 0' TERM INT
  log "every ${interval}s, keeping $keep, metrics on :$METRICS_PORT"
  # The first backup as soon as the database answers (a fresh stack's db takes a minute to start).
  wait_for_db 300 || log "the database does not answer yet; trying anyway"
  while true; do
    local next=$interval
    backup || next=$((retry < interval ? retry : interval))
    kill -0 "$server" 2>/dev/null || die "the metrics server exited"
    sleep "$next" & sleeper=$!
    wait "$sleeper" || true
    sleeper=""
  done
}

restore() {
  local name="${1:-}" cnf status=0
  mkdir -p "$BACKUP_DIR"
  exec {lock_fd}>"$LOCK"
  flock "$lock_fd"
  if [[ -z $name ]]; then
    name="$(backups | head -n1)"
    [[ -n $name ]] || die "no backup of $DB_NAME in $BACKUP_DIR"
  fi
  [[ $name != */* && -f $BACKUP_DIR/$name ]] ||
    die "no backup named '$name' (backups: $(backups | tr '\n' ' '))"
  gzip -t "$BACKUP_DIR/$name" || die "$name is damaged (gzip -t); nothing was restored"
  cnf="$(client_cnf)"
  log "restoring $name ($(stat -c %s "$BACKUP_DIR/$name") bytes) into $DB_NAME on $DB_HOST"
  gzip -dc "$BACKUP_DIR/$name" | mariadb --defaults-extra-file="$cnf" "$DB_NAME" || status=$?
  if [[ $status -eq 0 ]]; then
    mariadb --defaults-extra-file="$cnf" -N -e \
      "SELECT CONCAT('db-backup: table ', table_name, ': ', table_rows, ' rows (estimate)') FROM information_schema.tables WHERE table_schema = '$DB_NAME'" >&2 || true
  fi
  rm -rf "$(dirname "$cnf")"
  [[ $status -eq 0 ]] || die "restoring $name failed (exit $status): the database may hold part of it; restore again"
  log "restored $name"
}

case "${1:-}" in
  serve) serve ;;
  once) backup ;;
  list)
    mkdir -p "$BACKUP_DIR"
    backups | while read -r f; do
      printf '%s %s %s\n' "$f" "$(stat -c %s "$BACKUP_DIR/$f")" "$(date -u -d "@$(stat -c %Y "$BACKUP_DIR/$f")" +%FT%TZ)"
    done ;;
  restore) restore "${2:-}" ;;
  *) die "usage: backup.sh serve|once|list|restore [NAME]" ;;
esac
