# shellcheck shell=bash
# Shared functions for the bench scripts (bench/ceilings, bench/run). Sourced, never
# executed. Servers are started with scripts/lib/common.sh's functions, in one private
# temporary directory, on free ports in 12000-19999 (scripts/test picks 20000-31999 and
# scripts/up uses the default ports, so a bench never collides with either; all three are
# below Linux's ephemeral range, 32768+, so no outgoing connection can take a picked port
# before its server binds it).
#
# Usage:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   trap bench_cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
#   bench_install_packages; bench_build_programs; bench_start_rabbitmq
#   "$BENCH_CEILING_BIN" publish --url "$BENCH_AMQP_URL" ...

# shellcheck source-path=SCRIPTDIR source=../scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

BENCH_DIR="$ROOT/bench"
BENCH_BUILD="${BENCH_BUILD_DIR:-$ROOT/build/bench}"
# shellcheck disable=SC2034  # read by the scripts that source this file
BENCH_CEILING_BIN="$BENCH_BUILD/herald_ceiling"
# shellcheck disable=SC2034  # same
BENCH_LOADGEN_BIN="$BENCH_BUILD/herald_loadgen"
# shellcheck disable=SC2034  # same
BENCH_RESULTS="${BENCH_RESULTS:-$BENCH_DIR/results}" # scripts/test points it into build/
BENCH_STATE="" # the temporary directory holding the private servers' state
BENCH_AMQP_URL=""
BENCH_PICKED_PORTS=" "
BENCH_CHILD="" # the measuring process running now, if any
BENCH_SAMPLER="" # bench/run's resource sampler, if running
BENCH_HERALD_PID=""
BENCH_HERALD_LOG="" # the running Herald's log
BENCH_PG_PORT=""
BENCH_SMTP_PORT=""
BENCH_HTTP_BASE=""
# The admin token of every Herald the bench starts (random per run): bench/run makes the
# bench's user, template and API key with it.
BENCH_ADMIN_TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
BENCH_REDIS_URL=""
BENCH_PG_URL=""

# bench_run OUTFILE CMD...: runs CMD with its stdout in OUTFILE and returns its status. In
# the background, waited for: a signal to the script then ends the script at once, and
# bench_cleanup stops CMD. (The redirection is here, not on the call: the EXIT trap runs
# with the redirections of the command it interrupts, and its messages would go there.)
bench_run() {
  local out=$1 status=0
  shift
  "$@" >"$out" &
  BENCH_CHILD=$!
  wait "$BENCH_CHILD" || status=$?
  BENCH_CHILD=""
  return "$status"
}

# bench_install_packages [EXTRA...]: installs what the ceilings (and the EXTRA packages)
# need if missing (through herald_install_packages, with its package list narrowed to
# these). HERALD_SKIP_INSTALL=1 skips the check.
bench_install_packages() {
  # Dynamic scope: herald_install_packages reads this list instead of the global one.
  # shellcheck disable=SC2034
  local HERALD_PACKAGES=(build-essential cmake ninja-build pkg-config g++ librabbitmq-dev
    nlohmann-json3-dev rabbitmq-server jq iproute2 "$@")
  herald_install_packages
}

# bench_build_programs: configures build/bench once (Ninja, Release), then builds
# herald_ceiling and herald_loadgen incrementally with one job (BENCH_BUILD_JOBS
# overrides): the bench must not compete with whatever else runs on the machine more than
# it has to.
bench_build_programs() {
  local jobs=${BENCH_BUILD_JOBS:-1}
  if [[ ! -f $BENCH_BUILD/build.ninja && ! -f $BENCH_BUILD/Makefile ]]; then
    local generator=(-G Ninja)
    [[ -f $BENCH_BUILD/CMakeCache.txt ]] && generator=()
    command -v ninja >/dev/null 2>&1 || generator=()
    cmake -S "$BENCH_DIR" -B "$BENCH_BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ||
      { err "cmake configure of bench/ failed"; return 1; }
  fi
  cmake --build "$BENCH_BUILD" -j "$jobs" || { err "build of bench/ failed"; return 1; }
}

# bench_pick_ports VAR COUNT: sets VAR to a port P such that P..P+COUNT-1 are free and not
# picked before, at random in 12000-19999.
bench_pick_ports() {
  local var=$1 count=$2 tries base i ok
  for ((tries = 0; tries < 500; tries++)); do
    base=$((12000 + RANDOM % (8000 - count)))
    ok=1
    for ((i = 0; i < count; i++)); do
      if [[ $BENCH_PICKED_PORTS == *" $((base + i)) "* ]] || port_in_use "$((base + i))"; then
        ok=0
        break
      fi
    done
    if ((ok)); then
      for ((i = 0; i < count; i++)); do BENCH_PICKED_PORTS+="$((base + i)) "; done
      printf -v "$var" '%s' "$base"
      return 0
    fi
  done
  err "no free range of $count ports found in 12000-19999"
  return 1
}

# bench_make_state: creates the temporary state directory (once).
bench_make_state() {
  [[ -n $BENCH_STATE && -d $BENCH_STATE ]] && return 0
  BENCH_STATE=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX") || return 1
  chmod 0755 "$BENCH_STATE"
}

# bench_start_rabbitmq: a private broker in $BENCH_STATE/rabbitmq; sets BENCH_AMQP_URL.
bench_start_rabbitmq() {
  local amqp dist
  bench_make_state || return 1
  bench_pick_ports amqp 1 || return 1
  bench_pick_ports dist 2 || return 1 # the distribution port and, next to it, its epmd
  start_rabbitmq "$BENCH_STATE/rabbitmq" "$amqp" "$dist" || return 1
  # shellcheck disable=SC2034  # read by the caller
  BENCH_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp/"
}

# bench_stop_rabbitmq: stops the private broker and its epmd (idempotent).
bench_stop_rabbitmq() {
  [[ -n $BENCH_STATE && -d $BENCH_STATE/rabbitmq ]] || return 0
  stop_rabbitmq "$BENCH_STATE/rabbitmq"
}

# bench_rabbitmqctl ARGS...: rabbitmqctl against the private broker.
bench_rabbitmqctl() {
  local port dist
  read -r port dist <"$BENCH_STATE/rabbitmq/port"
  _rabbitmq_env "$BENCH_STATE/rabbitmq" "$port" "$dist"
  timeout 60 env "${RMQ_ENV[@]}" "$RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" -q "$@"
}

# bench_start_postgres: a private PostgreSQL with Herald's migrations; sets BENCH_PG_PORT
# and BENCH_PG_URL.
bench_start_postgres() {
  bench_make_state || return 1
  bench_pick_ports BENCH_PG_PORT 1 || return 1
  start_postgres "$BENCH_STATE/postgres" "$BENCH_PG_PORT" || return 1
  apply_migrations "$BENCH_PG_PORT" >/dev/null || return 1
  # shellcheck disable=SC2034  # read by the caller
  BENCH_PG_URL="postgresql://postgres@127.0.0.1:$BENCH_PG_PORT"
}

# bench_psql DB ARGS...: psql -At against the private PostgreSQL.
bench_psql() {
  local db=$1
  shift
  PGOPTIONS=--client-min-messages=warning psql -X -q -At -h 127.0.0.1 -p "$BENCH_PG_PORT" \
    -U postgres -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# bench_start_redis: a private Redis; sets BENCH_REDIS_URL.
bench_start_redis() {
  local port
  bench_make_state || return 1
  bench_pick_ports port 1 || return 1
  start_redis "$BENCH_STATE/redis" "$port" || return 1
  # shellcheck disable=SC2034  # read by the caller
  BENCH_REDIS_URL="redis://127.0.0.1:$port/0"
}

# bench_start_smtp_sink: postfix's smtp-sink (fast, discards mail) with running counters
# (-c) in $BENCH_STATE/smtp-sink/out; sets BENCH_SMTP_PORT.
bench_start_smtp_sink() {
  local dir pid user=()
  bench_make_state || return 1
  dir="$BENCH_STATE/smtp-sink"
  mkdir -p "$dir"
  bench_pick_ports BENCH_SMTP_PORT 1 || return 1
  ((EUID == 0)) && user=(-u nobody) # smtp-sink refuses to keep root privileges
  pid=$(spawn_detached "$dir/out" /usr/sbin/smtp-sink "${user[@]}" -c \
    "127.0.0.1:$BENCH_SMTP_PORT" 1000)
  echo "$pid" >"$dir/smtp-sink.pid"
  if ! wait_for 10 "$pid" port_in_use "$BENCH_SMTP_PORT"; then
    err "smtp-sink did not start on port $BENCH_SMTP_PORT"
    show_log_tail "$dir/out"
    return 1
  fi
  info "smtp-sink ready on $BENCH_SMTP_PORT (pid $pid)"
}

# bench_sink_count: messages the smtp-sink has received so far (its last "mesg=" counter).
bench_sink_count() {
  local n
  n=$(tail -c 300 "$BENCH_STATE/smtp-sink/out" 2>/dev/null | tr '\r' '\n' |
    grep -o 'mesg=[0-9]*' | tail -n 1)
  n=${n#mesg=}
  echo "${n:-0}"
}

# bench_start_herald NAME ROLES: starts build/herald with ROLES on a fresh range of five
# HTTP ports against the private servers (every load goes to one user, so the per-user
# rate limit is off; the per-credential one is on, sized never to trip, so each request
# still runs the rate-limit check); sets BENCH_HERALD_PID and BENCH_HTTP_BASE and
# returns once every service port its roles open (gateway +0, users +1, templates +2,
# email +3) answers /health/ready: the node opens them one after the other, so the
# gateway's alone is not enough. The ports are picked free, but another program may still
# take one before Herald binds it, and the node then exits: that is retried twice on a
# fresh range.
bench_start_herald() {
  local name=$1 roles=$2 pid attempt offsets=() role offset ok
  case ,$roles, in
    *,all,*) offsets=(0 1 2 3) ;;
    *)
      for role in gateway:0 users:1 templates:2 email:3; do
        [[ ,$roles, == *,${role%%:*},* ]] && offsets+=("${role#*:}")
      done
      ;;
  esac
  ((${#offsets[@]})) || offsets=(0)
  for attempt in 1 2 3; do
    bench_pick_ports BENCH_HTTP_BASE 5 || return 1
    pid=$(spawn_detached "$BENCH_STATE/$name.log" env HERALD_ROLES="$roles" \
      HERALD_AMQP_URL="$BENCH_AMQP_URL" HERALD_PG_URL="$BENCH_PG_URL" \
      HERALD_REDIS_URL="$BENCH_REDIS_URL" HERALD_SMTP_URL="smtp://127.0.0.1:$BENCH_SMTP_PORT" \
      HERALD_HTTP_PORT_BASE="$BENCH_HTTP_BASE" HERALD_HTTP_HOST=127.0.0.1 \
      HERALD_ADMIN_TOKEN="$BENCH_ADMIN_TOKEN" \
      HERALD_RATE_LIMIT_PER_USER=0 HERALD_RATE_LIMIT_PER_CLIENT=1000000000/h \
      HERALD_LOG_LEVEL="${HERALD_LOG_LEVEL:-warn}" \
      "$ROOT/build/herald" serve --roles="$roles")
    echo "$pid" >"$BENCH_STATE/herald.pid"
    BENCH_HERALD_PID=$pid
    # shellcheck disable=SC2034  # read by bench/run
    BENCH_HERALD_LOG="$BENCH_STATE/$name.log"
    ok=1
    for offset in "${offsets[@]}"; do
      wait_http_ready "http://127.0.0.1:$((BENCH_HTTP_BASE + offset))/health/ready" 60 "$pid" ||
        { ok=0 && break; }
    done
    if ((ok)); then
      info "herald ($roles) ready on $BENCH_HTTP_BASE (pid $pid)"
      return 0
    fi
    show_log_tail "$BENCH_STATE/$name.log"
    pid_alive "$pid" && return 1 # alive but not ready: not a lost port
    ((attempt < 3)) && warn "herald ($roles) exited during start-up; again on other ports"
  done
  return 1
}

bench_stop_herald() {
  [[ -n $BENCH_STATE ]] || return 0
  stop_pid "$BENCH_STATE/herald.pid" herald herald 20
  # shellcheck disable=SC2034  # read by the caller
  BENCH_HERALD_PID=""
}

# bench_cleanup: for the EXIT trap. Stops the measuring process and every private server
# and removes the state directory (kept, with its logs, when BENCH_KEEP=1 or a server did
# not stop). Keeps the exit status of the script.
# shellcheck disable=SC2317  # reached through the trap
bench_cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  set +e
  if [[ -n $BENCH_CHILD ]] && pid_alive "$BENCH_CHILD"; then
    kill -TERM "$BENCH_CHILD" 2>/dev/null
    wait_for 10 "" pid_gone "$BENCH_CHILD" || kill -KILL "$BENCH_CHILD" 2>/dev/null
  fi
  if [[ -n $BENCH_SAMPLER ]] && pid_alive "$BENCH_SAMPLER"; then
    kill -TERM "$BENCH_SAMPLER" 2>/dev/null
  fi
  if [[ -n $BENCH_STATE && -d $BENCH_STATE ]]; then
    bench_stop_herald
    [[ -d $BENCH_STATE/smtp-sink ]] && stop_pid "$BENCH_STATE/smtp-sink/smtp-sink.pid" smtp-sink smtp-sink 10
    [[ -d $BENCH_STATE/redis ]] && stop_redis "$BENCH_STATE/redis"
    [[ -d $BENCH_STATE/postgres ]] && stop_postgres "$BENCH_STATE/postgres"
    bench_stop_rabbitmq
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      info "state kept in $BENCH_STATE"
    elif running_pid "$BENCH_STATE/rabbitmq/rabbitmq.pid" beam >/dev/null ||
      running_pid "$BENCH_STATE/rabbitmq/epmd.pid" epmd >/dev/null ||
      running_pid "$BENCH_STATE/postgres/postgres.pid" postgres >/dev/null ||
      running_pid "$BENCH_STATE/redis/redis.pid" redis-server >/dev/null ||
      running_pid "$BENCH_STATE/smtp-sink/smtp-sink.pid" smtp-sink >/dev/null ||
      running_pid "$BENCH_STATE/herald.pid" herald >/dev/null; then
      warn "a server from $BENCH_STATE is still running; the directory is kept"
    else
      rm -rf "$BENCH_STATE"
      info "removed $BENCH_STATE"
    fi
  fi
  exit "$status"
}

# bench_machine_json: a JSON object describing this machine and the moment (jq).
bench_machine_json() {
  local cpu load rmq
  cpu=$(grep -m 1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//')
  read -r load _ </proc/loadavg
  # shellcheck disable=SC2016  # dpkg-query's format
  rmq=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null) || rmq=unknown
  jq -n --arg cpu "$cpu" --argjson cores "$(nproc)" --arg load "$load" \
    --arg kernel "$(uname -r)" --arg rabbitmq "$rmq" \
    --argjson mem_mb "$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)" \
    '{cpu: $cpu, cores: $cores, mem_mb: $mem_mb, kernel: $kernel,
      rabbitmq_server: $rabbitmq, loadavg_1min_at_start: ($load | tonumber)}'
}
