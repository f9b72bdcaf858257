# shellcheck shell=bash
# Shared functions for scripts/up, scripts/down, scripts/test and scripts/lib/testctl.
# Sourced, never executed. Every server runs as a plain process with its state in one
# directory (pid file, port file, data, logs); nothing here needs systemd or Docker.
#
# Conventions
#   - Functions return non-zero after printing "error: ..." (with the server's log tail);
#     they do not exit, so callers decide (scripts use set -e).
#   - Liveness is checked with pid_alive, which treats zombies as dead: this machine's
#     init does not reap orphans, and kill -0 succeeds on a zombie.
#   - Servers are started detached (setsid, stdio to a log file, re-parented at once) so
#     that Ctrl-C in the terminal does not reach them and a CI job capturing our output
#     does not wait for them to close it.

# Repository root, from this file's location (scripts/lib/common.sh).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERALD_LIB="$ROOT/scripts/lib"

# Debian's own interpreter: the python3 first on PATH may be a build without aiosmtpd.
HERALD_PYTHON=/usr/bin/python3
RABBITMQ_BIN=/usr/lib/rabbitmq/bin

# Everything the build, the servers and the scripts need (Debian 12 package names).
# iproute2 (ss) and ca-certificates are not in the design's table but are needed on a
# minimal image: ss for port checks, CA roots for HTTPS to push providers. clang builds
# the libFuzzer targets (fuzz/).
HERALD_PACKAGES=(
  build-essential cmake ninja-build pkg-config g++ clang
  libcaf-dev libcpprest-dev libpqxx-dev postgresql libhiredis-dev redis-server
  librabbitmq-dev rabbitmq-server libkainjow-mustache-dev libcurl4-openssl-dev libssl-dev
  nlohmann-json3-dev libboost-test-dev python3-aiosmtpd curl postfix jq
  iproute2 ca-certificates ccache openssl libutf8proc-dev libhowardhinnant-date-dev
)

# Databases owned by the services; config/migrations/<db>/ holds each one's migrations.
HERALD_DATABASES=(user_db template_db notification_db)

# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------
info() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
err() { printf 'error: %s\n' "$*" >&2; }

# show_log_tail FILE [LINES]: the end of a server log, indented, on stderr.
show_log_tail() {
  local file=$1 lines=${2:-25}
  [[ -s $file ]] || return 0
  printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
  tail -n "$lines" "$file" | sed 's/^/    /' >&2
}

# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
  local pid=$1 stat rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
  rest=${stat##*) } # the state field follows the command name "(...) "
  [[ ${rest%% *} != [ZX] ]]
}

# running_pid PIDFILE PATTERN: prints the pid recorded in PIDFILE if that process is
# alive and its command line contains PATTERN (so a stale pid file whose pid was reused
# by an unrelated process is never mistaken for ours, nor signalled).
running_pid() {
  local pidfile=$1 pattern=$2 pid cmdline
  [[ -s $pidfile ]] || return 1
  read -r pid <"$pidfile" || true
  pid_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$pattern"* ]] || return 1
  printf '%s\n' "$pid"
}

# wait_for SECONDS PID CMD...: runs CMD every 0.2 s until it succeeds (0), the deadline
# passes (1) or, when PID is not empty, that process dies (2).
wait_for() {
  local seconds=$1 pid=$2
  shift 2
  local deadline=$((EPOCHSECONDS + seconds))
  while true; do
    "$@" && return 0
    if [[ -n $pid ]] && ! pid_alive "$pid"; then return 2; fi
    ((EPOCHSECONDS < deadline)) || return 1
    sleep 0.2
  done
}

pid_gone() { ! pid_alive "$1"; }

# close_inherited_fds: closes every descriptor above stderr that this shell inherited (but
# bash's own script descriptor). A server started from a test process would otherwise
# keep that process's listening sockets open after it exits and hold its ports.
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if ((fd > 2 && fd != 255)); then
      eval "exec $fd>&-" 2>/dev/null || true
    fi
  done
}

# spawn_detached LOG CMD...: starts CMD in its own session with stdin from /dev/null and
# output appended to LOG; prints its pid. The subshell exits at once, so CMD is not our
# child (no zombie of ours, and `exec herald` in scripts/up does not inherit it). Without
# job control setsid does not fork, so $! is CMD's own pid.
spawn_detached() {
  local log=$1
  shift
  (setsid "$@" >>"$log" 2>&1 </dev/null & echo $!)
}

# stop_pid PIDFILE PATTERN NAME [SECONDS]: SIGTERM, wait, SIGKILL as a last resort.
# Does nothing if the process is not running; always removes the pid file.
stop_pid() {
  local pidfile=$1 pattern=$2 name=$3 seconds=${4:-30} pid
  if pid=$(running_pid "$pidfile" "$pattern"); then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "$seconds" "" pid_gone "$pid"; then
      warn "$name (pid $pid) did not stop within ${seconds}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_for 10 "" pid_gone "$pid" || true
    fi
    info "$name stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

# ---------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------

# port_in_use PORT: something listens on TCP PORT (any address).
port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -ltnH "sport = :$port" 2>/dev/null) ]]
  else
    # No iproute2: a successful connect to loopback means someone listens there.
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
  fi
}

# require_free_port PORT SERVICE: fails with a message naming both if PORT is taken.
require_free_port() {
  local port=$1 service=$2 owner=""
  port_in_use "$port" || return 0
  if command -v ss >/dev/null 2>&1; then
    owner=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -n 1) || true
  fi
  err "port $port ($service) is already in use by another process${owner:+: $owner}"
  return 1
}

# _same_port DIR PORT NAME: a running instance found in DIR must be on the port asked for.
_same_port() {
  local dir=$1 port=$2 name=$3 recorded=""
  [[ -s $dir/port ]] && read -r recorded _ <"$dir/port"
  if [[ -n $recorded && $recorded != "$port" ]]; then
    err "$name from $dir is already running on port $recorded, not $port; stop it first"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------
# Packages and build
# ---------------------------------------------------------------------------------------

# herald_install_packages: apt-get installs whatever in HERALD_PACKAGES is missing.
# HERALD_SKIP_INSTALL=1 skips the check (e.g. a machine managed some other way).
herald_install_packages() {
  [[ ${HERALD_SKIP_INSTALL:-0} == 1 ]] && return 0
  local missing=() pkg
  for pkg in "${HERALD_PACKAGES[@]}"; do
    # shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not a shell variable
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] ||
      missing+=("$pkg")
  done
  ((${#missing[@]} > 0)) || return 0

  info "installing missing packages: ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null 2>&1; then
      err "packages missing and not root (no sudo): ${missing[*]}"
      return 1
    fi
    sudo=(sudo)
  fi
  # A subshell, so the trap that removes our temporary policy-rc.d is its own.
  (
    set -euo pipefail
    _deny_service_starts
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q
      -o DPkg::Lock::Timeout=300)
    if [[ " ${missing[*]} " == *" postfix "* ]]; then
      # Postfix asks how to deliver mail; we only want its smtp-sink tool.
      printf '%s\n' 'postfix postfix/main_mailer_type select No configuration' \
        'postfix postfix/mailname string localhost' | "${sudo[@]}" debconf-set-selections
    fi
    "${apt[@]}" update
    "${apt[@]}" install -y -o Dpkg::Options::=--force-confdef \
      -o Dpkg::Options::=--force-confold "${missing[@]}"
  ) || { err "package installation failed"; return 1; }

  for pkg in "${missing[@]}"; do
    # shellcheck disable=SC2016
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || {
      err "package $pkg is still not installed"
      return 1
    }
  done
}

# _deny_service_starts: the postgresql, redis-server and rabbitmq-server packages try to
# start their system-wide daemons on the default ports, which scripts/up needs. Debian's
# policy-rc.d hook (exit 101 = "not allowed") stops that; invoke-rc.d and
# deb-systemd-invoke honour it and the install still succeeds. Only when there is no
# policy-rc.d already (we never touch an existing one), and removed when the calling
# subshell exits. Daemons already running are never touched.
_deny_service_starts() {
  local hook=/usr/sbin/policy-rc.d
  ((EUID == 0)) && [[ ! -e $hook ]] || return 0
  printf '#!/bin/sh\n# temporary, from herald scripts/lib/common.sh\nexit 101\n' >"$hook"
  chmod 0755 "$hook"
  # shellcheck disable=SC2064  # expand now: the path is fixed
  trap "rm -f '$hook'" EXIT
  trap 'exit 130' INT TERM HUP
}

# herald_build_dir: the build directory: $HERALD_BUILD_DIR (relative to the repository
# root unless absolute), build/ by default.
herald_build_dir() {
  local dir=${HERALD_BUILD_DIR:-build}
  [[ $dir == /* ]] || dir="$ROOT/$dir"
  printf '%s\n' "$dir"
}

# herald_build: configure once (Ninja, RelWithDebInfo), then build incrementally, in
# herald_build_dir. HERALD_BUILD_JOBS overrides the parallelism; HERALD_SKIP_BUILD=1 uses
# the build directory as it is; HERALD_CMAKE_ARGS (split on spaces) go to the configure
# step, and to an existing build directory too so that a changed option takes effect,
# e.g. HERALD_BUILD_DIR=build-asan HERALD_CMAKE_ARGS=-DHERALD_SANITIZE=address,undefined.
herald_build() {
  local build jobs=${HERALD_BUILD_JOBS:-$(nproc)} extra=()
  build=$(herald_build_dir)
  [[ ${HERALD_SKIP_BUILD:-0} == 1 ]] && return 0
  read -r -a extra <<<"${HERALD_CMAKE_ARGS:-}"
  # ccache: a rebuild in another clone or build directory (CI's fresh clone, a worktree)
  # reuses the objects compiled from the same sources: paths are taken relative to the
  # clone, and the build directory is left out of the hash (debug info then names the
  # directory of the build that filled the cache).
  export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
  if [[ ! -f $build/build.ninja && ! -f $build/Makefile ]]; then
    local generator=(-G Ninja)
    command -v ccache >/dev/null && extra=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache "${extra[@]}")
    # A cache from an earlier (failed) configure fixes the generator; do not fight it.
    [[ -f $build/CMakeCache.txt ]] && generator=()
    cmake -S "$ROOT" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "${extra[@]}" || { err "cmake configure failed"; return 1; }
  elif ((${#extra[@]})); then
    cmake -S "$ROOT" -B "$build" "${extra[@]}" >/dev/null ||
      { err "cmake configure failed"; return 1; }
  fi
  cmake --build "$build" -j "$jobs" || { err "build failed"; return 1; }
}

# herald_fuzz_build_dir: the clang build of the fuzz targets: $HERALD_FUZZ_BUILD_DIR
# (relative to the repository root unless absolute), build-fuzz/ by default.
herald_fuzz_build_dir() {
  local dir=${HERALD_FUZZ_BUILD_DIR:-build-fuzz}
  [[ $dir == /* ]] || dir="$ROOT/$dir"
  printf '%s\n' "$dir"
}

# herald_build_fuzz: configure (clang, -DHERALD_FUZZ=ON, ccache as herald_build uses it)
# once, then build the libFuzzer targets incrementally in herald_fuzz_build_dir.
herald_build_fuzz() {
  local build jobs=${HERALD_BUILD_JOBS:-$(nproc)} extra=()
  build=$(herald_fuzz_build_dir)
  [[ ${HERALD_SKIP_BUILD:-0} == 1 ]] && return 0
  export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
  if [[ ! -f $build/build.ninja ]]; then
    command -v ccache >/dev/null && extra=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$build" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_FUZZ=ON "${extra[@]}" ||
      { err "cmake configure of the fuzz targets failed"; return 1; }
  fi
  cmake --build "$build" -j "$jobs" || { err "build of the fuzz targets failed"; return 1; }
}

# ---------------------------------------------------------------------------------------
# epmd (Erlang port mapper, used by RabbitMQ and its CLI tools)
# ---------------------------------------------------------------------------------------

# start_epmd STATEDIR PORT: a private epmd per RabbitMQ instance, so test brokers never
# share one with scripts/up's (an epmd outlives its broker and would be killed by
# whoever stops "their" broker). Erlang finds it through ERL_EPMD_PORT.
start_epmd() {
  local dir=$1 port=$2 pid
  mkdir -p "$dir"
  running_pid "$dir/epmd.pid" epmd >/dev/null && return 0
  require_free_port "$port" "epmd for RabbitMQ" || return 1
  pid=$(spawn_detached "$dir/epmd.log" env ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$port")
  echo "$pid" >"$dir/epmd.pid"
  if ! wait_for 10 "$pid" port_in_use "$port"; then
    err "epmd did not start on port $port"
    show_log_tail "$dir/epmd.log"
    return 1
  fi
}

stop_epmd() {
  stop_pid "$1/epmd.pid" epmd epmd 10
}

# ---------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------

# _rabbitmq_env STATEDIR PORT DISTPORT: sets RMQ_NODE and RMQ_ENV, the environment the
# broker and its CLI tools share. They must agree on HOME (the Erlang cookie is
# created there), the node name and the epmd port. The node name carries the AMQP port,
# so the same state dir and port find the same Mnesia directory (durable queues and
# persistent messages survive a stop/start).
_rabbitmq_env() {
  local dir=$1 port=$2 dist=$3
  RMQ_NODE="herald-$port@localhost"
  RMQ_ENV=(
    HOME="$dir"
    RABBITMQ_NODENAME="$RMQ_NODE"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$port"
    RABBITMQ_DIST_PORT="$dist"
    RABBITMQ_MNESIA_BASE="$dir/mnesia"
    RABBITMQ_LOG_BASE="$dir/log"
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" # empty: skip /etc/rabbitmq's
    ERL_EPMD_ADDRESS=127.0.0.1
    ERL_EPMD_PORT="$((dist + 1))"
    ERL_CRASH_DUMP="$dir/erl_crash.dump"
    # -start_epmd false: use our epmd or fail, never spawn an untracked `epmd -daemon`.
    # +sbwt none (and for the dirty schedulers): idle Erlang schedulers sleep instead of
    # spinning, which on a host shared with Herald and PostgreSQL only burns their CPU.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false +sbwt none +sbwtdcpu none +sbwtdio none"
    RABBITMQ_CTL_ERL_ARGS="-start_epmd false"
  )
}

# rabbitmq_ctl STATEDIR PORT DISTPORT ARGS...: rabbitmqctl ARGS against that broker (its
# output on stdout, errors on stderr; a minute at most).
rabbitmq_ctl() {
  local dir=$1 port=$2 dist=$3
  shift 3
  _rabbitmq_env "$dir" "$port" "$dist"
  timeout 60 env "${RMQ_ENV[@]}" "$RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" -q "$@"
}

# start_rabbitmq STATEDIR PORT DISTPORT: starts (or reuses) a broker and returns once it
# accepts connections. Restartable on the same STATEDIR. Its epmd listens on DISTPORT+1.
#
# Two pids: rabbitmq-server is a sh launcher that stays alive as the VM's parent (it
# turns SIGTERM into a clean stop) and exits with it; its pid goes to launcher.pid. The
# broker writes the VM's own pid to rabbitmq.pid (RABBITMQ_PID_FILE) early in its boot.
start_rabbitmq() {
  local dir=$1 port=$2 dist=$3 pid
  local epmd_port=$((dist + 1))
  mkdir -p "$dir/log" "$dir/mnesia"
  _rabbitmq_env "$dir" "$port" "$dist"

  if pid=$(running_pid "$dir/rabbitmq.pid" beam) ||
    pid=$(running_pid "$dir/launcher.pid" rabbitmq-server); then
    _same_port "$dir" "$port" RabbitMQ || return 1
    _rabbitmq_wait_ready "$dir" "$pid" "$port" 90 || return 1
    info "RabbitMQ already running on $port"
    return 0
  fi
  require_free_port "$port" RabbitMQ || return 1
  require_free_port "$dist" "RabbitMQ distribution" || return 1
  start_epmd "$dir" "$epmd_port" || return 1

  : >"$dir/rabbitmq-env.conf"
  cat >"$dir/rabbitmq.conf" <<'EOF'
# Written by scripts/lib/common.sh (ports come from the environment).
log.console = false
log.file.level = info
# Classic queues v2 (RabbitMQ 3.10's new index and store): confirms of persistent
# messages come sooner and steadier than with v1 (bench/README.md, latency_floor).
classic_queue.default_version = 2
EOF
  # Plugins: none (the management plugin would add seconds and a port per instance).
  # Kept if present, so `rabbitmq-plugins enable --offline` in this dir sticks.
  [[ -f $dir/enabled_plugins ]] || echo '[].' >"$dir/enabled_plugins"
  echo "$port $dist" >"$dir/port"
  rm -f "$dir/rabbitmq.pid" # rewritten by this boot; `rabbitmqctl wait` reads it
  : >"$dir/rabbitmq.out"

  pid=$(spawn_detached "$dir/rabbitmq.out" env "${RMQ_ENV[@]}" "$RABBITMQ_BIN/rabbitmq-server")
  echo "$pid" >"$dir/launcher.pid"
  _rabbitmq_wait_ready "$dir" "$pid" "$port" 90 || return 1
  info "RabbitMQ ready on $port (node $RMQ_NODE, pid $(<"$dir/rabbitmq.pid"))"
}

# _rabbitmq_wait_ready STATEDIR PID PORT SECONDS: cheap polling first (the VM alive, the
# AMQP listener up, which happens last in the boot), then the CLI's own checks. A CLI
# call costs a second of CPU, so it is not polled in a loop, and `rabbitmqctl wait`
# alone would not notice a broker that died (its zombie looks alive to it).
_rabbitmq_wait_ready() {
  local dir=$1 pid=$2 port=$3 seconds=$4 rc=0
  wait_for "$seconds" "$pid" port_in_use "$port" || rc=$?
  if ((rc == 0)); then
    timeout 40 env "${RMQ_ENV[@]}" "$RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" -q \
      wait "$dir/rabbitmq.pid" --timeout 30 >>"$dir/ctl.log" 2>&1 &&
      timeout 40 env "${RMQ_ENV[@]}" "$RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" -q \
        await_startup --timeout 30 >>"$dir/ctl.log" 2>&1 && return 0
    err "RabbitMQ on port $port listens but did not report startup complete"
    show_log_tail "$dir/ctl.log" 10
  elif ((rc == 2)); then
    err "RabbitMQ (node $RMQ_NODE) exited during startup"
  else
    err "RabbitMQ did not open port $port within ${seconds}s"
  fi
  show_log_tail "$dir/rabbitmq.out"
  # The node log is long; its errors and warnings are what explain a failed boot.
  local log
  for log in "$dir"/log/*.log; do
    grep -E '\[(warning|error|critical)\]' "$log" >"$dir/problems.log" 2>/dev/null || true
    show_log_tail "$dir/problems.log" 15
  done
  return 1
}

# stop_rabbitmq STATEDIR: graceful `rabbitmqctl stop` (messages on disk stay there),
# SIGTERM/SIGKILL by pid as a fallback, then its epmd. Idempotent.
stop_rabbitmq() {
  local dir=$1 port dist pid
  if [[ -s $dir/port ]] && pid=$(running_pid "$dir/rabbitmq.pid" beam); then
    read -r port dist <"$dir/port"
    _rabbitmq_env "$dir" "$port" "$dist"
    # Without the pid-file argument: with it, the CLI waits for the OS process to
    # vanish, and an exited broker can linger here as a zombie.
    if timeout 60 env "${RMQ_ENV[@]}" "$RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" -q stop \
      >>"$dir/ctl.log" 2>&1 && wait_for 30 "" pid_gone "$pid"; then
      info "RabbitMQ stopped (pid $pid)"
    else
      warn "rabbitmqctl stop did not stop RabbitMQ; stopping it by its pid"
    fi
    stop_pid "$dir/rabbitmq.pid" beam RabbitMQ 15 # no-op once it is gone
  fi
  # The launcher exits with the VM (give it a moment to notice); it is still there only
  # if the broker never got as far as writing its pid file. SIGTERM makes it stop the
  # VM it started.
  if pid=$(running_pid "$dir/launcher.pid" rabbitmq-server); then
    wait_for 5 "" pid_gone "$pid" || true
  fi
  stop_pid "$dir/launcher.pid" rabbitmq-server "RabbitMQ launcher" 30
  rm -f "$dir/rabbitmq.pid"
  [[ -d $dir ]] && stop_epmd "$dir"
  return 0
}

# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------

# _pg_bindir: the newest installed server's bin dir (initdb, pg_ctl are not on PATH).
_pg_bindir() {
  local dirs
  dirs=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V)
  [[ -n $dirs ]] || { err "PostgreSQL server binaries not found under /usr/lib/postgresql"; return 1; }
  tail -n 1 <<<"$dirs"
}

# _as_postgres DIR CMD...: PostgreSQL refuses to run as root; run as the postgres user
# (when we are root), from DIR so that it never starts in an unreadable cwd such as /root.
_as_postgres() {
  local dir=$1
  shift
  if ((EUID == 0)); then
    (cd "$dir" && runuser -u postgres -- "$@")
  else
    (cd "$dir" && "$@")
  fi
}

_pg_ready() { pg_isready -q -h 127.0.0.1 -p "$1" -t 2; }

# start_postgres STATEDIR PORT: initdb on first use (trust auth, superuser postgres),
# then pg_ctl start; socket and log inside STATEDIR, listening on 127.0.0.1 only.
start_postgres() {
  local dir=$1 port=$2 bindir pid data="$1/data"
  bindir=$(_pg_bindir) || return 1
  mkdir -p "$dir"

  if pid=$(running_pid "$dir/postgres.pid" postgres); then
    _same_port "$dir" "$port" PostgreSQL || return 1
    if wait_for 30 "$pid" _pg_ready "$port"; then
      info "PostgreSQL already running on $port"
      return 0
    fi
    err "PostgreSQL (pid $pid) is running from $dir but not answering on $port"
    show_log_tail "$dir/postgres.log"
    return 1
  fi
  require_free_port "$port" PostgreSQL || return 1

  if ((EUID == 0)); then chown postgres:postgres "$dir"; fi
  chmod 0700 "$dir"
  if ! _as_postgres / test -w "$dir"; then
    err "the postgres user cannot write $dir: every parent directory must be searchable" \
      "by others (chmod o+x); or move the state (scripts/up: HERALD_RUN_DIR," \
      "scripts/test: TMPDIR)"
    return 1
  fi

  if [[ ! -s $data/PG_VERSION ]]; then
    if ! _as_postgres "$dir" "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
      err "initdb failed in $data"
      show_log_tail "$dir/initdb.log"
      return 1
    fi
  fi

  echo "$port" >"$dir/port"
  # pg_ctl -w waits until the server accepts connections (or has failed).
  if ! _as_postgres "$dir" "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >>"$dir/pg_ctl.log" 2>&1; then
    err "PostgreSQL did not start on port $port"
    show_log_tail "$dir/pg_ctl.log" 5
    show_log_tail "$dir/postgres.log"
    return 1
  fi
  head -n 1 "$data/postmaster.pid" >"$dir/postgres.pid"
  if ! wait_for 30 "$(<"$dir/postgres.pid")" _pg_ready "$port"; then
    err "PostgreSQL started but does not answer on 127.0.0.1:$port"
    show_log_tail "$dir/postgres.log"
    return 1
  fi
  info "PostgreSQL ready on $port (pid $(<"$dir/postgres.pid"))"
}

# stop_postgres STATEDIR: pg_ctl stop -m fast (clean shutdown, data kept). Idempotent.
stop_postgres() {
  local dir=$1 bindir pid data="$1/data"
  if pid=$(running_pid "$dir/postgres.pid" postgres); then
    bindir=$(_pg_bindir) || return 1
    if _as_postgres "$dir" "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop \
      >>"$dir/pg_ctl.log" 2>&1; then
      info "PostgreSQL stopped (pid $pid)"
    else
      warn "pg_ctl stop failed; stopping PostgreSQL by its pid"
    fi
    stop_pid "$dir/postgres.pid" postgres PostgreSQL 15
  else
    rm -f "$dir/postgres.pid"
  fi
  return 0
}

# apply_migrations [PGPORT] [PGHOST]: creates the service databases if missing and
# applies every config/migrations/<db>/NNNN_*.sql not yet recorded in that database's
# schema_migrations table, in name order, each file and its record in one transaction.
apply_migrations() {
  local port=${1:-5432} host=${2:-127.0.0.1} db file version applied count=0
  local psql=(env PGOPTIONS=--client-min-messages=warning PGCONNECT_TIMEOUT=10
    psql -X -q -h "$host" -p "$port" -U postgres -v ON_ERROR_STOP=1)
  local dbs=("${HERALD_DATABASES[@]}") dir
  # A database folder added later is picked up too.
  for dir in "$ROOT"/config/migrations/*/; do
    [[ -d $dir ]] || continue
    db=$(basename "$dir")
    [[ " ${dbs[*]} " == *" $db "* ]] || dbs+=("$db")
  done

  for db in "${dbs[@]}"; do
    [[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || { err "bad database name: $db"; return 1; }
    if [[ $("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") != 1 ]]; then
      "${psql[@]}" -d postgres -c "CREATE DATABASE $db" || { err "cannot create database $db"; return 1; }
      info "created database $db"
    fi
    "${psql[@]}" -d "$db" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
        version    text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now())" || return 1
    applied=$("${psql[@]}" -d "$db" -tAc "SELECT version FROM schema_migrations") || return 1

    local files=()
    [[ -d $ROOT/config/migrations/$db ]] &&
      mapfile -t files < <(find "$ROOT/config/migrations/$db" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]_*.sql' | LC_ALL=C sort)
    for file in "${files[@]}"; do
      version=$(basename "$file" .sql)
      # The version is spliced into SQL below: allow only plain file names.
      [[ $version =~ ^[0-9]{4}_[A-Za-z0-9_.-]+$ ]] || { err "bad migration file name: $file"; return 1; }
      grep -qxF -- "$version" <<<"$applied" && continue
      if ! "${psql[@]}" -d "$db" --single-transaction -f "$file" \
        -c "INSERT INTO schema_migrations (version) VALUES ('$version')"; then
        err "migration $db/$(basename "$file") failed (rolled back)"
        return 1
      fi
      info "applied $db/$(basename "$file")"
      count=$((count + 1))
    done
  done
  if ((count == 0)); then info "migrations: up to date"; else info "migrations: $count applied"; fi
}

# ---------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------

_redis_ready() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

# start_redis STATEDIR PORT: an in-memory Redis (no RDB, no AOF: Herald keeps only
# losable data there), on 127.0.0.1.
start_redis() {
  local dir=$1 port=$2 pid
  mkdir -p "$dir"
  if pid=$(running_pid "$dir/redis.pid" redis-server); then
    _same_port "$dir" "$port" Redis || return 1
    if wait_for 10 "$pid" _redis_ready "$port"; then
      info "Redis already running on $port"
      return 0
    fi
    err "Redis (pid $pid) is running from $dir but not answering on $port"
    return 1
  fi
  require_free_port "$port" Redis || return 1
  echo "$port" >"$dir/port"
  # Not daemonized by Redis itself: spawn_detached gives us the pid directly.
  pid=$(spawn_detached "$dir/redis.log" redis-server --port "$port" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$dir" --pidfile "$dir/redis.pid")
  echo "$pid" >"$dir/redis.pid"
  if ! wait_for 15 "$pid" _redis_ready "$port"; then
    err "Redis did not start on port $port"
    show_log_tail "$dir/redis.log"
    return 1
  fi
  info "Redis ready on $port (pid $pid)"
}

stop_redis() {
  stop_pid "$1/redis.pid" redis-server Redis 15
}

# ---------------------------------------------------------------------------------------
# SMTP sink
# ---------------------------------------------------------------------------------------

# start_smtp_sink STATEDIR PORT MAILDIR: scripts/lib/smtp_sink.py, one .eml per message.
start_smtp_sink() {
  local dir=$1 port=$2 maildir=$3 pid
  mkdir -p "$dir" "$maildir"
  if pid=$(running_pid "$dir/smtp_sink.pid" smtp_sink.py); then
    _same_port "$dir" "$port" "SMTP sink" || return 1
    info "SMTP sink already running on $port"
    return 0
  fi
  require_free_port "$port" "SMTP sink" || return 1
  if ! "$HERALD_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
    err "$HERALD_PYTHON cannot import aiosmtpd (install python3-aiosmtpd)"
    return 1
  fi
  echo "$port" >"$dir/port"
  pid=$(spawn_detached "$dir/smtp_sink.log" env PYTHONUNBUFFERED=1 "$HERALD_PYTHON" \
    "$HERALD_LIB/smtp_sink.py" --host 127.0.0.1 --port "$port" --dir "$maildir")
  echo "$pid" >"$dir/smtp_sink.pid"
  if ! wait_for 15 "$pid" port_in_use "$port"; then
    err "SMTP sink did not start on port $port"
    show_log_tail "$dir/smtp_sink.log"
    return 1
  fi
  info "SMTP sink ready on $port (pid $pid), mail in $maildir"
}

stop_smtp_sink() {
  stop_pid "$1/smtp_sink.pid" smtp_sink.py "SMTP sink" 10
}

# start_smtp_relay STATEDIR MAILDIR LISTEN...: scripts/lib/smtp_relay.py, the scriptable
# relay (answers per recipient, see its header), on every LISTEN (plain:PORT,
# starttls:PORT:CERT:KEY, smtps:PORT:CERT:KEY). Ready when every port listens.
start_smtp_relay() {
  local dir=$1 maildir=$2 pid spec port args=()
  shift 2
  mkdir -p "$dir" "$maildir"
  if running_pid "$dir/smtp_relay.pid" smtp_relay.py >/dev/null; then
    info "SMTP relay already running"
    return 0
  fi
  for spec in "$@"; do
    port=${spec#*:}
    port=${port%%:*}
    require_free_port "$port" "SMTP relay" || return 1
    args+=(--listen "$spec")
  done
  pid=$(spawn_detached "$dir/smtp_relay.log" env PYTHONUNBUFFERED=1 "$HERALD_PYTHON" \
    "$HERALD_LIB/smtp_relay.py" --host 127.0.0.1 --dir "$maildir" "${args[@]}")
  echo "$pid" >"$dir/smtp_relay.pid"
  for spec in "$@"; do
    port=${spec#*:}
    port=${port%%:*}
    if ! wait_for 15 "$pid" port_in_use "$port"; then
      err "SMTP relay did not start on port $port"
      show_log_tail "$dir/smtp_relay.log"
      return 1
    fi
  done
  info "SMTP relay ready (pid $pid) on $*, mail in $maildir"
}

# smtp_relay_listeners PORT TLSDIR: the --listen specs scripts/test gives the relay:
# plain on PORT, STARTTLS on +1, implicit TLS on +2, implicit TLS with a certificate for
# another host name on +3 (certificates from make_test_certificates TLSDIR).
smtp_relay_listeners() {
  local p=$1 tls=$2
  echo "plain:$p starttls:$((p + 1)):$tls/relay.pem:$tls/relay.key" \
    "smtps:$((p + 2)):$tls/relay.pem:$tls/relay.key" \
    "smtps:$((p + 3)):$tls/wrong-host.pem:$tls/wrong-host.key"
}

stop_smtp_relay() {
  stop_pid "$1/smtp_relay.pid" smtp_relay.py "SMTP relay" 10
}

# make_test_certificates DIR: a test CA (ca.pem), a relay certificate it signed for
# 127.0.0.1 and localhost (relay.pem, relay.key), one it signed for another host name
# (wrong-host.pem, wrong-host.key), and a second CA that signed neither (other-ca.pem).
make_test_certificates() {
  local dir=$1 name
  mkdir -p "$dir"
  (
    cd "$dir"
    for name in ca other-ca; do
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Herald test $name" \
        -keyout "$name.key" -out "$name.pem" 2>/dev/null
    done
    _test_leaf relay "subjectAltName=IP:127.0.0.1,DNS:localhost"
    _test_leaf wrong-host "subjectAltName=DNS:relay.wrong-host.example"
  ) || { err "could not make test certificates in $dir"; return 1; }
}

_test_leaf() {
  local name=$1 san=$2
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" \
    -out "$name.csr" 2>/dev/null
  printf '%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------

_http_200() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null) == 200 ]]
}

# wait_http_ready URL [SECONDS] [PID]: polls URL until it answers 200; with PID, gives
# up early if that process dies.
wait_http_ready() {
  local url=$1 seconds=${2:-60} pid=${3:-} rc=0
  wait_for "$seconds" "$pid" _http_200 "$url" || rc=$?
  case $rc in
    0) return 0 ;;
    2) err "process $pid exited while waiting for $url" ;;
    *) err "$url did not answer 200 within ${seconds}s" ;;
  esac
  return 1
}
