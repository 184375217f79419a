#!/usr/bin/env bash
# jobcert benchmarks: ratios measured in one run on one machine (see bench/README.md).
#
#   bench/run.sh                     # everything, 10 s per measurement
#   BENCH_SECONDS=5 bench/run.sh     # shorter measurements
#   BENCH_PARTS="a b" bench/run.sh   # only some measurements (a b c d e f)
#
# Everything runs on 127.0.0.1, every load is bounded in time, and every process started here is
# stopped on exit. Tools and scratch files stay inside the clone (target/bench-tools,
# target/bench); the table goes to stdout and to bench/results/latest.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
THINGS=${BENCH_THINGS:-256}
RATE=${BENCH_RATE:-500}
DELAY_MS=20
STALL_SECS=${BENCH_STALL_SECONDS:-$((SECS > 5 ? SECS : 5))}
MQTT_DEVICES=${BENCH_MQTT_DEVICES:-"1000 5000 15000"}
MQTT_TARGETS=${BENCH_MQTT_TARGETS:-"embedded mtls mosquitto"}
PARTS=${BENCH_PARTS:-"a b c d e f"}
REPLAY_DEVICES=${BENCH_REPLAY_DEVICES:-2000}
REPLAY_SPEED=${BENCH_REPLAY_SPEED:-10}
INSTALL=${BENCH_INSTALL:-1}

TOOLS=$ROOT/target/bench-tools
OHA=$TOOLS/bin/oha
BUILT=${CARGO_TARGET_DIR:-$ROOT/target}/release
JOBCERT=$BUILT/jobcert
TARGET_BIN=$BUILT/examples/bench_target
WORK=$ROOT/target/bench/run-$(date -u +%Y%m%dT%H%M%SZ)-$$
RESULTS=$WORK/results.json
OUT_DIR=$ROOT/bench/results
PREFIX=bench-dev-

for v in SECS CONNS WRK_THREADS THINGS RATE STALL_SECS REPLAY_DEVICES REPLAY_SPEED; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: ${v} must be a positive integer, not '${!v}'" >&2; exit 2; }
done
for n in $MQTT_DEVICES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_MQTT_DEVICES holds '$n', not a positive integer" >&2; exit 2; }
done

py() { python3 "$ROOT/bench/bench.py" "$@"; }
say() { printf '%s\n' "$*"; }
note() { say "  note: $*"; py set "$RESULTS" notes "$*"; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

# --- processes ------------------------------------------------------------------------------

PIDS=()

# reap PID: waits up to 10 s for a signalled process to end, then kills it.
reap() {
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do reap "$pid"; done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background, output in $WORK/NAME.{out,err}; sets BG_PID.
start() {
    local name=$1
    shift
    "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

forget() {
    local rest=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || rest+=("$p"); done
    PIDS=("${rest[@]}")
}

# stop PID: ends one process started by `start` and waits for it.
stop() {
    kill -TERM "$1" 2>/dev/null || true
    reap "$1"
    forget "$1"
}

# bounded LIMIT_S OUT ERR CMD...: runs CMD for at most LIMIT_S seconds (in the background, so
# that Ctrl-C stops it at once); returns its exit code.
bounded() {
    local limit=$1 out=$2 err=$3 pid rc=0
    shift 3
    timeout -s INT -k 10 "$limit" "$@" </dev/null >"$out" 2>"$err" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget "$pid"
    return "$rc"
}

# wait_line NAME PID REGEX: prints the first line of $WORK/NAME.out matching REGEX (30 s at most).
wait_line() {
    local file=$WORK/$1.out pid=$2 regex=$3 i line
    for ((i = 0; i < 600; i++)); do
        if line=$(grep -m1 -E "$regex" "$file" 2>/dev/null); then
            printf '%s\n' "$line"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            say "bench: $1 exited before printing /$regex/:" >&2
            tail -n 20 "$WORK/$1.err" >&2 || true
            return 1
        fi
        sleep 0.05
    done
    say "bench: $1 printed no /$regex/ within 30 s" >&2
    return 1
}

# wait_port PORT PID: waits until 127.0.0.1:PORT accepts TCP (30 s at most).
wait_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 600; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# start_serve NAME ARGS...: `jobcert serve` on free ports; sets SERVE_PID, DATA_URL, CONTROL_URL,
# MQTT_URL.
start_serve() {
    local name=$1
    shift
    start "$name" "$JOBCERT" serve --http 127.0.0.1:0 --control 127.0.0.1:0 "$@"
    SERVE_PID=$BG_PID
    DATA_URL=$(wait_line "$name" "$SERVE_PID" '^data-plane ' | cut -d' ' -f2)
    CONTROL_URL=$(wait_line "$name" "$SERVE_PID" '^control-plane ' | cut -d' ' -f2)
    MQTT_URL=
    if [[ " $* " == *" --mqtt "* ]]; then
        MQTT_URL=$(wait_line "$name" "$SERVE_PID" '^mqtt ' | cut -d' ' -f2)
    fi
    if [[ " $* " == *" --mqtt-broker "* ]]; then
        wait_line "$name" "$SERVE_PID" '^mqtt-attached ' >/dev/null
    fi
}

# start_target NAME ARGS...: bench_target on a free port; sets TARGET_PID, TARGET_URL.
start_target() {
    local name=$1
    shift
    start "$name" "$TARGET_BIN" --listen 127.0.0.1:0 "$@"
    TARGET_PID=$BG_PID
    TARGET_URL=$(wait_line "$name" "$TARGET_PID" '^listening ' | cut -d' ' -f2)
}

# --- load generators ------------------------------------------------------------------------

# run_wrk KEY URL THREADS CONNECTIONS SECONDS
run_wrk() {
    local key=$1 url=$2 threads=$3 conns=$4 secs=$5 rc=0
    bounded $((secs + 30)) "$WORK/$key.wrk" "$WORK/$key.wrk.err" \
        wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s \
        -s "$ROOT/bench/startnext.lua" "$url" -- "$PREFIX" "$THINGS" || rc=$?
    if ((rc != 0)); then
        note "$key: wrk exited $rc; $(tail -n 1 "$WORK/$key.wrk.err")"
        return 0
    fi
    py wrk "$RESULTS" "$key" "$WORK/$key.wrk"
}

# run_oha KEY URL SECONDS ARGS...
run_oha() {
    local key=$1 url=$2 secs=$3 rc=0
    shift 3
    bounded $((secs + 30)) "$WORK/$key.oha.json" "$WORK/$key.oha.err" \
        "$OHA" -c "$CONNS" -z "${secs}s" -m PUT -d '{}' -T application/json \
        --no-tui --output-format json "$@" "$url/things/${PREFIX}1/jobs/\$next" || rc=$?
    if ((rc != 0)); then
        note "$key: oha exited $rc; $(tail -n 1 "$WORK/$key.oha.err")"
        return 0
    fi
    py oha "$RESULTS" "$key" "$WORK/$key.oha.json"
}

# run_fleet KEY SCENARIO TARGET CONTROL LIMIT_S ARGS...: `jobcert fleet`, summary into RESULTS;
# an empty TARGET lets `jobcert fleet` start the reference server itself.
run_fleet() {
    local key=$1 scenario=$2 target=$3 control=$4 limit=$5 rc=0 where=()
    shift 5
    local dir=$WORK/fleet-$key
    mkdir -p "$dir"
    [[ -n $target ]] && where=(--target "$target" --control "$control")
    bounded "$limit" "$dir/stdout" "$dir/stderr" \
        "$JOBCERT" fleet "$ROOT/bench/scenarios/$scenario" \
        "${where[@]}" --report-dir "$dir" --quiet "$@" || rc=$?
    if ((rc > 1)); then
        note "$key: jobcert fleet exited $rc ($( ((rc == 124)) && echo "stopped after ${limit} s; " )$(tail -n 1 "$dir/stderr"))"
    fi
    if compgen -G "$dir/*/summary.json" >/dev/null; then
        py fleet "$RESULTS" "$key" "$dir"
    fi
}

# fleet_with_overflows KEY ARGS...: run_fleet, then records the accept-queue overflows it caused.
fleet_with_overflows() {
    local key=$1 before after
    before=$(py listen-overflows)
    run_fleet "$@"
    after=$(py listen-overflows)
    if [[ -f $RESULTS ]] && grep -q "\"$key\"" "$RESULTS"; then
        py set "$RESULTS" "$key/listen_overflows" $((after - before))
    fi
}

# --- set-up -----------------------------------------------------------------------------------

mkdir -p "$WORK" "$OUT_DIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

apt_install() {
    if [[ $INSTALL == 1 && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing $* (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; } ||
            return 1
    else
        return 1
    fi
}

command -v python3 >/dev/null || { say "bench: python3 is needed" >&2; exit 2; }
command -v timeout >/dev/null || { say "bench: timeout (coreutils) is needed" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
    apt_install wrk || { say "bench: wrk is needed: apt-get install wrk" >&2; exit 2; }
fi
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]] && has_part e; then
    if apt_install nginx; then NGINX=/usr/sbin/nginx; fi
fi
MOSQUITTO=$(command -v mosquitto || true)
[[ -z $MOSQUITTO && -x /usr/sbin/mosquitto ]] && MOSQUITTO=/usr/sbin/mosquitto
if [[ -z $MOSQUITTO ]] && has_part d; then
    if apt_install mosquitto; then MOSQUITTO=/usr/sbin/mosquitto; fi
fi
if [[ ! -x $OHA ]] && { has_part b || has_part c; }; then
    if [[ $INSTALL == 1 ]]; then
        say "installing oha into target/bench-tools (cargo install --locked; 10-20 minutes on 2 cores)"
        if cargo install oha --locked --root "$TOOLS" --target-dir "$TOOLS/build" \
            >"$WORK/oha-install.log" 2>&1; then
            rm -rf "$TOOLS/build"
        else
            say "  oha did not install (see ${WORK#"$ROOT"/}/oha-install.log)"
        fi
    fi
fi

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    say "building (cargo build --release --examples --bins)"
    cargo build --release --examples --bins
fi

HAVE_FLEET=0
"$JOBCERT" fleet --help >/dev/null 2>&1 && HAVE_FLEET=1
HAVE_OHA=0
[[ -x $OHA ]] && HAVE_OHA=1
OHA_CORRECTION=0
((HAVE_OHA)) && "$OHA" --help 2>&1 | grep -q -- '--latency-correction' && OHA_CORRECTION=1

py machine "$RESULTS" seconds="$SECS" connections="$CONNS" things="$THINGS" rate="$RATE" \
    stall_seconds="$STALL_SECS" oha="$([[ $HAVE_OHA == 1 ]] && echo "$OHA" || echo)" \
    mosquitto="$MOSQUITTO" nginx="$NGINX" wrk_threads="$WRK_THREADS" \
    replay_devices="$REPLAY_DEVICES" replay_speed="$REPLAY_SPEED"
py show-machine "$RESULTS"
((HAVE_FLEET)) || note "this build has no \`jobcert fleet\`: the jobcert measurements (b, c, d) are skipped"
((HAVE_OHA)) || note "oha is not installed: its measurements are skipped"

# --- a. reference server vs trivial handler ---------------------------------------------------

if has_part a; then
    say ""
    say "== a. reference server vs trivial handler (wrk -t$WRK_THREADS -c$CONNS -d${SECS}s)"
    start_serve a-serve
    py seed --control "$CONTROL_URL" --data "$DATA_URL" --prefix "$PREFIX" --count "$THINGS" | sed 's/^/  /'
    run_wrk a.reference "$DATA_URL" "$WRK_THREADS" "$CONNS" "$SECS"
    stop "$SERVE_PID"
    start_target a-target
    run_wrk a.trivial "$TARGET_URL" "$WRK_THREADS" "$CONNS" "$SECS"
    stop "$TARGET_PID"
fi

# --- b. HTTP drivers: wrk, oha, jobcert ---------------------------------------------------------

if has_part b; then
    say ""
    say "== b. HTTP drivers against bench_target ($CONNS connections, ${SECS}s each)"
    start_target b-target
    run_wrk b.wrk "$TARGET_URL" "$WRK_THREADS" "$CONNS" "$SECS"
    if ((HAVE_OHA)); then run_oha b.oha "$TARGET_URL" "$SECS"; fi
    if ((HAVE_FLEET)); then
        run_fleet b.jobcert poll-closed.yaml "$TARGET_URL" "$TARGET_URL" $((SECS + 60)) \
            --devices "$CONNS" --duration-s "$SECS"
    fi
    stop "$TARGET_PID"
fi

# --- c. latency fidelity ----------------------------------------------------------------------

if has_part c; then
    say ""
    say "== c. latency fidelity (open loop $RATE/s; delay ${DELAY_MS} ms; then one 1 s stall)"
    if ((HAVE_FLEET)); then
        start_target c-delay --delay-ms "$DELAY_MS"
        run_fleet c.delay poll-open.yaml "$TARGET_URL" "$TARGET_URL" $((SECS + 60)) \
            --rate "$RATE" --duration-s "$SECS"
        stop "$TARGET_PID"
        # The stall starts 3 s after bench_target starts, so each run gets a fresh one.
        start_target c-stall --delay-ms "$DELAY_MS" --stall-after-s 3 --stall-for-ms 1000
        run_fleet c.stall poll-open.yaml "$TARGET_URL" "$TARGET_URL" $((STALL_SECS + 60)) \
            --rate "$RATE" --duration-s "$STALL_SECS"
        stop "$TARGET_PID"
    fi
    if ((OHA_CORRECTION)); then
        start_target c-stall-oha --delay-ms "$DELAY_MS" --stall-after-s 3 --stall-for-ms 1000
        run_oha c.stall_oha_corrected "$TARGET_URL" "$STALL_SECS" -q "$RATE" --latency-correction
        stop "$TARGET_PID"
        start_target c-stall-oha-plain --delay-ms "$DELAY_MS" --stall-after-s 3 --stall-for-ms 1000
        run_oha c.stall_oha_plain "$TARGET_URL" "$STALL_SECS" -q "$RATE"
        stop "$TARGET_PID"
    elif ((HAVE_OHA)); then
        note "c: this oha has no --latency-correction; the corrected comparison is skipped"
    fi
    # A closed loop at about the same rate: RATE × delay connections, as wrk would be run.
    closed=$(((RATE * DELAY_MS + 999) / 1000))
    start_target c-stall-wrk --delay-ms "$DELAY_MS" --stall-after-s 3 --stall-for-ms 1000
    run_wrk c.stall_wrk "$TARGET_URL" 1 "$closed" "$STALL_SECS"
    stop "$TARGET_PID"
    py set "$RESULTS" machine/stall_wrk_connections "$closed"
fi

# --- d. MQTT scale ------------------------------------------------------------------------------

if has_part d; then
    say ""
    say "== d. MQTT scale (devices: $MQTT_DEVICES)"
    if ((HAVE_FLEET)); then
        limit=$(ulimit -n)
        for n in $MQTT_DEVICES; do
            if ((n + 1000 > limit)); then
                note "d: $n devices need more than the $limit open files allowed per process; skipped"
                continue
            fi
            if [[ " $MQTT_TARGETS " == *" embedded "* ]]; then
                start_serve "d-serve-$n" --mqtt 127.0.0.1:0
                fleet_with_overflows "d.embedded.$n" mqtt-scale.yaml "$MQTT_URL" "$CONTROL_URL" 400 --devices "$n"
                stop "$SERVE_PID"
            fi
            if [[ " $MQTT_TARGETS " == *" mtls "* ]]; then
                # MQTT over TLS, each device presenting its own certificate: the fleet starts
                # the reference itself, with a PKI made for the run.
                fleet_with_overflows "d.mtls.$n" mqtt-scale.yaml "" "" 400 --devices "$n" --reference-tls
            fi
            if [[ -n $MOSQUITTO && " $MQTT_TARGETS " == *" mosquitto "* ]]; then
                port=$(py free-port)
                conf=$WORK/mosquitto-$n.conf
                # No broker-side limits on queued or in-flight messages: every request and
                # reply of the run goes through the one attached client.
                printf '%s\n' "listener $port 127.0.0.1" "allow_anonymous true" "max_connections -1" \
                    "persistence false" "set_tcp_nodelay true" "max_queued_messages 0" \
                    "max_inflight_messages 0" >"$conf"
                start "d-mosquitto-$n" "$MOSQUITTO" -c "$conf"
                broker_pid=$BG_PID
                if wait_port "$port" "$broker_pid"; then
                    start_serve "d-attach-$n" --mqtt-broker "mqtt://127.0.0.1:$port"
                    fleet_with_overflows "d.mosquitto.$n" mqtt-scale.yaml "mqtt://127.0.0.1:$port" "$CONTROL_URL" 400 \
                        --devices "$n"
                    stop "$SERVE_PID"
                    drops=$(grep -c 'dropped' "$WORK/d-attach-$n.err" || true)
                    if ((drops > 0)); then
                        note "d: at $n devices \`jobcert serve --mqtt-broker\` logged $drops dropped replies or notifications (${WORK#"$ROOT"/}/d-attach-$n.err)"
                    fi
                    if grep -q 'dropped' "$WORK/d-mosquitto-$n.err"; then
                        note "d: at $n devices mosquitto dropped outgoing messages (${WORK#"$ROOT"/}/d-mosquitto-$n.err)"
                    fi
                else
                    note "d: mosquitto did not listen on $port; $(tail -n 1 "$WORK/d-mosquitto-$n.err")"
                fi
                stop "$broker_pid"
            fi
        done
        [[ -n $MOSQUITTO ]] || note "d: no mosquitto (apt-get install mosquitto); its column is skipped"
    fi
fi

# --- e. the sender at the machine's limit: nginx and bench_target -------------------------------

# nginx_conf PORT BODY FILE: one worker on 127.0.0.1:PORT, no access log, kept-alive connections;
# StartNext answers BODY, CreateThing and CreateJob answer like the control plane (for seeding).
nginx_conf() {
    local port=$1 body=$2 file=$3 dir
    dir=$(dirname "$file")
    # In an nginx quoted string a backslash escapes the next character.
    body=${body//\\/\\\\}
    body=${body//\'/\\\'}
    cat >"$file" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    default_type application/json;
    server {
        listen 127.0.0.1:$port;
        location ~ ^/things/[^/]+/jobs/\\\$next\$ { return 200 '$body'; }
        location ~ ^/things/([^/]+)\$ {
            return 200 '{"thingName":"\$1","thingArn":"arn:aws:iot:us-east-1:123456789012:thing/\$1","thingId":"\$request_id"}';
        }
        location ~ ^/jobs/([^/]+)\$ {
            return 200 '{"jobId":"\$1","jobArn":"arn:aws:iot:us-east-1:123456789012:job/\$1"}';
        }
        location / { return 404 '{"message":"not found"}'; }
    }
}
EOF
}

# e_pair SERVER URL: wrk, then jobcert fleet (poll, every answer checked), against URL.
e_pair() {
    local server=$1 url=$2
    run_wrk "e.$server.wrk" "$url" "$WRK_THREADS" "$CONNS" "$SECS"
    if ((HAVE_FLEET)); then
        run_fleet "e.$server.jobcert" poll-closed.yaml "$url" "$url" $((SECS + 60)) \
            --devices "$CONNS" --duration-s "$SECS"
    fi
}

if has_part e; then
    say ""
    say "== e. the sender at the machine's limit: wrk vs jobcert ($CONNS connections, ${SECS}s each)"
    if [[ -z $NGINX ]]; then
        note "e: no nginx (apt-get install nginx); its pair is skipped"
    else
        # The bytes bench_target serves, checked against the StartNext response schema.
        body=$("$TARGET_BIN" --print-start-next)
        port=$(py free-port)
        mkdir -p "$WORK/nginx"
        nginx_conf "$port" "$body" "$WORK/nginx/nginx.conf"
        start e-nginx "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
        nginx_pid=$BG_PID
        if wait_port "$port" "$nginx_pid"; then
            answer=$(py put "http://127.0.0.1:$port/things/${PREFIX}1/jobs/%24next")
            if [[ $answer == "$body" ]]; then
                e_pair nginx "http://127.0.0.1:$port"
            else
                note "e: nginx answered StartNext with '$answer', not the checked body; skipped"
            fi
        else
            note "e: nginx did not listen on $port; $(tail -n 1 "$WORK/e-nginx.err")"
        fi
        stop "$nginx_pid"
    fi
    start_target e-target
    e_pair trivial "$TARGET_URL"
    stop "$TARGET_PID"
fi

# --- f. replay timing ---------------------------------------------------------------------------

if has_part f && ((HAVE_FLEET)); then
    say ""
    say "== f. replay timing ($REPLAY_DEVICES devices recorded, replayed at ${REPLAY_SPEED}x against the reference)"
    capture=$WORK/replay-record.jsonl.gz
    # The recording: a fleet run against a reference server `jobcert fleet` starts itself.
    run_fleet f.record replay-record.yaml "" "" 300 --devices "$REPLAY_DEVICES" --capture "$capture"
    if [[ -f $capture ]]; then
        dir=$WORK/replay-f
        mkdir -p "$dir"
        rc=0
        bounded 300 "$dir/stdout" "$dir/stderr" "$JOBCERT" replay "$capture" \
            --speed "$REPLAY_SPEED" --report-dir "$dir" --quiet || rc=$?
        if ((rc > 1)); then
            note "f: jobcert replay exited $rc ($(tail -n 1 "$dir/stderr"))"
        fi
        if compgen -G "$dir/*/summary.json" >/dev/null; then
            py fleet "$RESULTS" f.replay "$dir"
        fi
    else
        note "f: the recording wrote no capture"
    fi
fi

# --- the table ----------------------------------------------------------------------------------

say ""
py table "$RESULTS" "$OUT_DIR/latest.txt"
cp "$RESULTS" "$OUT_DIR/latest.json"
say ""
say "written: bench/results/latest.txt (raw figures: bench/results/latest.json; logs: ${WORK#"$ROOT"/})"
