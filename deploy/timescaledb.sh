#!/usr/bin/env bash
# A throwaway TimescaleDB server for tests and development, on a machine without Docker.
#
# Debian 12 has no TimescaleDB package; Debian 13 (trixie) has postgresql-17-timescaledb
# (the apache build). We build a trixie chroot with mmdebstrap once, into a machine-wide
# cache, and run each server from it with its data directory bind-mounted inside a private
# mount namespace: the mount lives only as long as the server, never on the host.
#
#   deploy/timescaledb.sh build                        build (or verify) the cached chroot
#   deploy/timescaledb.sh start [--port P] [--datadir D]
#                                                      initdb D if empty, start on 127.0.0.1:P
#                                                      (a free port if not given); the last
#                                                      line on stdout is the connection URL
#   deploy/timescaledb.sh stop --datadir D [--remove]  stop it (and delete D)
#   deploy/timescaledb.sh stop --all                   stop every server run from the cache
#   deploy/timescaledb.sh version                      the TimescaleDB the cache provides
#
# Environment: MDA_TIMESCALEDB_CACHE (default /var/cache/mda/timescaledb-trixie),
# MDA_DEBIAN_MIRROR (default http://deb.debian.org/debian). Needs root (chroot, mount).
# The server trusts every local connection: it is for tests, not for data you keep.
set -euo pipefail

CACHE=$(realpath -m "${MDA_TIMESCALEDB_CACHE:-/var/cache/mda/timescaledb-trixie}")
MIRROR=${MDA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
PG_MAJOR=17
PACKAGES="postgresql-$PG_MAJOR,postgresql-$PG_MAJOR-timescaledb,postgresql-$PG_MAJOR-postgis-3"
RECIPE="mda-timescaledb v1 $SUITE $PACKAGES"  # a change here rebuilds the cache
MARKER="$CACHE/.mda-complete"                  # written last: its absence means incomplete
PGDATA_IN=/var/lib/postgresql/mda-data         # each server's data dir, as seen in the chroot
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin

me=$(basename "$0")
die() { echo "$me: error: $*" >&2; exit 1; }
say() { echo "$me: $*" >&2; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (it uses chroot and a mount namespace); as a" \
    "non-root user, point the tests at an existing server with MDA_TEST_DATABASE_URL instead"
}

cache_ok() { [[ -f $MARKER && $(cat "$MARKER" 2>/dev/null) == "$RECIPE" ]]; }

# PIDs of processes whose root directory is the cache (servers started from it).
cache_pids() {
  local p root
  for p in /proc/[0-9]*; do
    root=$(readlink "$p/root" 2>/dev/null) || continue
    [[ $root == "$CACHE" ]] && echo "${p#/proc/}"
  done
  return 0
}

cmd_build() {
  need_root
  cache_ok && return 0
  command -v mmdebstrap >/dev/null ||
    die "mmdebstrap not found; install it: apt-get install -y mmdebstrap (or deploy/system-packages.sh)"
  mkdir -p "$(dirname "$CACHE")"
  exec 8>"$CACHE.lock"
  flock -w 1200 8 || die "timed out waiting for another build of $CACHE (lock $CACHE.lock)"
  if cache_ok; then exec 8>&-; return 0; fi    # another process built it while we waited
  [[ -z $(cache_pids) ]] || die "servers still run from the outdated $CACHE; stop them:" \
    "$0 stop --all"
  say "building the TimescaleDB chroot in $CACHE (once per machine, about a minute)"
  local t0=$SECONDS log="$CACHE.build.log"
  rm -rf --one-file-system "$CACHE" "$CACHE.tmp"
  # In a private mount namespace: whatever mmdebstrap mounts (/proc, /dev, /sys in the
  # chroot) vanishes with it, even if it is killed half-way.
  if ! unshare --mount --propagation private -- mmdebstrap --variant=apt --include="$PACKAGES" \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --customize-hook='chroot "$1" pg_dropcluster '"$PG_MAJOR"' main || true' \
      "$SUITE" "$CACHE.tmp" "$MIRROR" >"$log" 2>&1; then
    rm -rf --one-file-system "$CACHE.tmp"
    die "mmdebstrap failed: $(grep -m1 '^E:' "$log" || tail -n1 "$log")" \
      "(full log: $log); check that $MIRROR is reachable"
  fi
  mv "$CACHE.tmp" "$CACHE"
  echo "$RECIPE" >"$MARKER.tmp" && mv "$MARKER.tmp" "$MARKER"
  exec 8>&-                                    # servers started later must not hold the lock
  say "built $CACHE in $((SECONDS - t0)) s ($(du -sh --one-file-system "$CACHE" | cut -f1))"
}

# What the cache provides, without starting a server.
cmd_version() {
  cache_ok || die "$CACHE is not built yet; run: $0 build"
  local ts pg license=apache
  ts=$(dpkg-query --admindir="$CACHE/var/lib/dpkg" -W -f='${Version}' "postgresql-$PG_MAJOR-timescaledb")
  pg=$(dpkg-query --admindir="$CACHE/var/lib/dpkg" -W -f='${Version}' "postgresql-$PG_MAJOR")
  compgen -G "$CACHE/usr/lib/postgresql/$PG_MAJOR/lib/timescaledb-tsl-*.so" >/dev/null && license=timescale
  echo "timescaledb ${ts%%[+~-]*} (license $license) on PostgreSQL ${pg%%[+~-]*}, Debian $SUITE packages, cache $CACHE"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a command in the chroot as its postgres user, with D mounted at $PGDATA_IN.
in_chroot() {
  local datadir=$1; shift
  unshare --mount --propagation private -- \
    /bin/sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$datadir" "$CACHE$PGDATA_IN" \
    chroot --userspec="$PG_UIDGID" "$CACHE" \
    /usr/bin/env -i PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 HOME=/var/lib/postgresql \
    PGDATA="$PGDATA_IN" "$@"
}

# psql in the chroot over TCP (no data dir needed): psql_at PORT DBNAME ARGS...
psql_at() {
  local port=$1 db=$2; shift 2
  chroot --userspec="$PG_UIDGID" "$CACHE" /usr/bin/env -i PATH="$PGBIN:/usr/bin:/bin" LANG=C.UTF-8 \
    psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

pid_of() {  # the running postmaster of data dir $1, if any
  local pidfile=$1/postmaster.pid pid
  [[ -f $pidfile ]] || return 1
  pid=$(head -n1 "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] &&
    [[ $(readlink "/proc/$pid/root") == "$CACHE" ]] || return 1
  echo "$pid"
}

cmd_start() {
  local port="" datadir=""
  while [[ $# -gt 0 ]]; do
    case $1 in
      --port) port=${2:?--port needs a value}; shift 2 ;;
      --datadir) datadir=${2:?--datadir needs a value}; shift 2 ;;
      *) die "unknown option $1 (usage: $me start [--port P] [--datadir D])" ;;
    esac
  done
  need_root
  command -v unshare >/dev/null || die "unshare not found; install util-linux"
  cmd_build
  PG_UIDGID=$(awk -F: '$1 == "postgres" {print $3 ":" $4}' "$CACHE/etc/passwd")
  [[ -n $PG_UIDGID ]] || die "no postgres user in $CACHE; remove the cache and rebuild: rm -rf $CACHE"

  if [[ -z $datadir ]]; then
    datadir=$(mktemp -d /tmp/mda-timescaledb.XXXXXX)/data
  fi
  mkdir -p "$datadir"
  datadir=$(cd "$datadir" && pwd -P)

  local pid
  if pid=$(pid_of "$datadir"); then              # idempotent: already running here
    port=$(sed -n 4p "$datadir/postmaster.pid")
    say "already running (pid $pid) with data in $datadir"
    print_ready "$port" "$datadir"
    return 0
  fi

  if [[ -z $port ]]; then
    port=$(free_port)
  elif port_busy "$port"; then
    die "port $port on 127.0.0.1 is already in use; choose another --port or omit it"
  fi

  mkdir -p "$CACHE$PGDATA_IN"
  chown "$PG_UIDGID" "$datadir"
  chmod 700 "$datadir"
  if [[ ! -f $datadir/PG_VERSION ]]; then
    [[ -z $(ls -A "$datadir") ]] || die "$datadir is neither empty nor a PostgreSQL data directory; pass another --datadir"
    in_chroot "$datadir" initdb --auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
      --no-sync >"$datadir.initdb.log" 2>&1 ||
      die "initdb failed: $(tail -n1 "$datadir.initdb.log") (full log: $datadir.initdb.log)"
    rm -f "$datadir.initdb.log"
    cat >>"$datadir/postgresql.conf" <<EOF

# ---- added by deploy/timescaledb.sh: a throwaway server for tests; durability off
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGDATA_IN'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
dynamic_shared_memory_type = mmap
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 128MB
max_locks_per_transaction = 256
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 2GB
checkpoint_timeout = 30min
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
  fi

  if ! in_chroot "$datadir" pg_ctl -w -t 60 -l "$PGDATA_IN/server.log" -o "-p $port" start >/dev/null 2>&1; then
    die "the server did not start on 127.0.0.1:$port: $(tail -n1 "$datadir/server.log" 2>/dev/null)" \
      "(full log: $datadir/server.log)"
  fi
  local i
  for i in $(seq 100); do
    psql_at "$port" postgres -c 'SELECT 1' >/dev/null 2>&1 && break
    [[ $i -eq 100 ]] && die "the server started but accepts no connections on 127.0.0.1:$port (log: $datadir/server.log)"
    sleep 0.1
  done
  say "started with data in $datadir (stop: $0 stop --datadir $datadir)"
  print_ready "$port" "$datadir"
}

# Prove the extension loads (in a scratch database: the license setting exists only where
# the extension is created), name its version on stderr, then print the URL as the last
# line on stdout.
print_ready() {
  local port=$1 probe="mda_probe_$1" facts ts license pg
  facts=$(psql_at "$port" postgres -c "DROP DATABASE IF EXISTS $probe" -c "CREATE DATABASE $probe" 2>&1 &&
    psql_at "$port" "$probe" -F ' ' -c 'CREATE EXTENSION timescaledb' \
      -c "SELECT extversion, current_setting('timescaledb.license'), current_setting('server_version')
          FROM pg_extension WHERE extname = 'timescaledb'" 2>&1) ||
    die "CREATE EXTENSION timescaledb failed on 127.0.0.1:$port: $(tail -n1 <<<"$facts")" \
      "(log: $2/server.log); rebuild the cache: rm -rf $CACHE"
  psql_at "$port" postgres -c "DROP DATABASE IF EXISTS $probe" >/dev/null 2>&1 || true
  read -r ts license pg <<<"$(tail -n1 <<<"$facts")"
  echo "timescaledb $ts (license $license) on PostgreSQL $pg" >&2
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

stop_pid() {  # fast shutdown, then immediate, then kill
  local pid=$1 i
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -QUIT "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  local datadir="" remove=0 all=0
  while [[ $# -gt 0 ]]; do
    case $1 in
      --datadir) datadir=${2:?--datadir needs a value}; shift 2 ;;
      --remove) remove=1; shift ;;
      --all) all=1; shift ;;
      *) die "unknown option $1 (usage: $me stop --datadir D [--remove] | $me stop --all)" ;;
    esac
  done
  need_root
  if [[ $all -eq 1 ]]; then
    local p ppid masters=()
    for p in $(cache_pids); do  # postmasters only: their parent runs outside the chroot
      ppid=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) && [[ -n $ppid ]] || continue
      [[ $(readlink "/proc/$ppid/root" 2>/dev/null) == "$CACHE" ]] || masters+=("$p")
    done
    for p in "${masters[@]}"; do stop_pid "$p"; done
    say "stopped ${#masters[@]} server(s) run from $CACHE"
    return 0
  fi
  [[ -n $datadir ]] || die "stop needs --datadir D (or --all)"
  [[ -d $datadir ]] || { say "$datadir does not exist; nothing to stop"; return 0; }
  local pid
  if pid=$(pid_of "$datadir"); then
    stop_pid "$pid"
    say "stopped the server with data in $datadir"
  else
    say "no server running with data in $datadir"
  fi
  if [[ $remove -eq 1 ]]; then
    rm -rf --one-file-system "$datadir"
  fi
}

case ${1:-} in
  build) shift; cmd_build "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  version) shift; cmd_version "$@" ;;
  *) echo "usage: $me build | start [--port P] [--datadir D] | stop --datadir D [--remove] | stop --all | version" >&2
     exit 2 ;;
esac
