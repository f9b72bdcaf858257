# shellcheck shell=bash
# Shared functions for the bench scripts (bench/ceilings, later bench/run). Sourced, never
# executed. Servers are started with scripts/lib/common.sh's functions, in one private
# temporary directory, on free ports in 40000-45000 (scripts/test picks 20000-31999 and
# scripts/up uses the default ports, so a bench never collides with either).
#
# Usage:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   trap bench_cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
#   bench_install_packages; bench_build_ceiling; bench_start_rabbitmq
#   "$BENCH_CEILING_BIN" publish --url "$BENCH_AMQP_URL" ...

# shellcheck source-path=SCRIPTDIR source=../scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

BENCH_DIR="$ROOT/bench"
BENCH_BUILD="${BENCH_BUILD_DIR:-$ROOT/build/bench}"
# shellcheck disable=SC2034  # read by the scripts that source this file
BENCH_CEILING_BIN="$BENCH_BUILD/herald_ceiling"
# shellcheck disable=SC2034  # same
BENCH_RESULTS="$BENCH_DIR/results"
BENCH_STATE="" # the temporary directory holding the private servers' state
BENCH_AMQP_URL=""
BENCH_PICKED_PORTS=" "
BENCH_CHILD="" # the measuring process running now, if any

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

# bench_install_packages: installs what the ceilings need if missing (through
# herald_install_packages, with its package list narrowed to these).
# HERALD_SKIP_INSTALL=1 skips the check.
bench_install_packages() {
  # Dynamic scope: herald_install_packages reads this list instead of the global one.
  # shellcheck disable=SC2034
  local HERALD_PACKAGES=(build-essential cmake ninja-build pkg-config g++ librabbitmq-dev
    nlohmann-json3-dev rabbitmq-server jq iproute2)
  herald_install_packages
}

# bench_build_ceiling: configures build/bench once (Ninja, Release), then builds
# incrementally with one job (BENCH_BUILD_JOBS overrides): the bench must not compete
# with whatever else runs on the machine more than it has to.
bench_build_ceiling() {
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
# picked before, at random in 40000-44999.
bench_pick_ports() {
  local var=$1 count=$2 tries base i ok
  for ((tries = 0; tries < 500; tries++)); do
    base=$((40000 + RANDOM % (5000 - count)))
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
  err "no free range of $count ports found in 40000-44999"
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

# bench_cleanup: for the EXIT trap. Stops the measuring process and every private server and removes the state
# directory (kept, with its logs, when BENCH_KEEP=1 or a server did not stop). Keeps the
# exit status of the script.
# shellcheck disable=SC2317  # reached through the trap
bench_cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  set +e
  if [[ -n $BENCH_CHILD ]] && pid_alive "$BENCH_CHILD"; then
    kill -TERM "$BENCH_CHILD" 2>/dev/null
    wait_for 10 "" pid_gone "$BENCH_CHILD" || kill -KILL "$BENCH_CHILD" 2>/dev/null
  fi
  if [[ -n $BENCH_STATE && -d $BENCH_STATE ]]; then
    bench_stop_rabbitmq
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      info "state kept in $BENCH_STATE"
    elif running_pid "$BENCH_STATE/rabbitmq/rabbitmq.pid" beam >/dev/null ||
      running_pid "$BENCH_STATE/rabbitmq/epmd.pid" epmd >/dev/null; then
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
