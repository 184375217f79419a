#!/usr/bin/env bash
# Steps 1-2 end to end: install ministack 1.5.33 in a venv, start it on 127.0.0.1 only, run the jobcert
# conformance suite against it over HTTP, stop ministack on exit. Bounded: install 300 s, start 30 s,
# run 1800 s (about 10 min of wall time: the longest timer case waits 10 min of real time).
#
# usage: run.sh OUTDIR [JOBCERT_BIN] [SCENARIOS_DIR]
#   OUTDIR         where the venv, logs and the run folder go (created)
#   JOBCERT_BIN    jobcert binary (default: jobcert on PATH)
#   SCENARIOS_DIR  the conformance scenarios of the same jobcert commit (default: ./scenarios/conformance)
# env: PORT (default 14566), PYTHON (default python3), CONCURRENCY (default 64),
#      DEVIATIONS (a deviations file), JOBCERT_ARGS (extra run options, e.g. "--only SN-START")
set -euo pipefail
OUT=${1:?usage: run.sh OUTDIR [JOBCERT_BIN] [SCENARIOS_DIR]}
JOBCERT=${2:-jobcert}
SCEN=${3:-scenarios/conformance}
PORT=${PORT:-14566}
PYTHON=${PYTHON:-python3}
CONCURRENCY=${CONCURRENCY:-64}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

# 1. install (exact version; requirements.txt beside this script pins every dependency as used)
if [ ! -x "$OUT/venv/bin/ministack" ]; then
  "$PYTHON" -m venv "$OUT/venv"
  if [ -f "$HERE/requirements.txt" ]; then
    timeout 300 "$OUT/venv/bin/pip" install -q -r "$HERE/requirements.txt"
  else
    timeout 300 "$OUT/venv/bin/pip" install -q ministack==1.5.33
  fi
fi
"$OUT/venv/bin/pip" freeze > "$OUT/pip-freeze.txt"
grep -qx 'ministack==1.5.33' "$OUT/pip-freeze.txt" || { echo "ministack 1.5.33 not installed" >&2; exit 2; }
# The optional mTLS MQTT listener binds 0.0.0.0:8883; it only starts when `cryptography` is importable.
if "$OUT/venv/bin/python" -c 'import cryptography' 2>/dev/null; then
  echo "note: cryptography is installed; IOT_MTLS_ENABLED=0 keeps the 0.0.0.0:8883 listener off" >&2
fi

# 2. start ministack, loopback only
if ss -ltn "sport = :$PORT" | grep -q LISTEN; then echo "port $PORT is taken" >&2; exit 2; fi
GATEWAY_PORT=$PORT BIND_HOST=127.0.0.1 IOT_MTLS_ENABLED=0 SFTP_ENABLED=0 \
  "$OUT/venv/bin/ministack" > "$OUT/ministack.log" 2>&1 &
MS_PID=$!
cleanup() { kill "$MS_PID" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$MS_PID" 2>/dev/null || break; sleep 0.1; done; kill -9 "$MS_PID" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 60); do
  grep -q "Running on http://127.0.0.1:$PORT" "$OUT/ministack.log" && break
  kill -0 "$MS_PID" || { echo "ministack exited" >&2; cat "$OUT/ministack.log" >&2; exit 2; }
  sleep 0.5
done
grep -q "Running on http://127.0.0.1:$PORT" "$OUT/ministack.log" || { echo "ministack did not start in 30 s" >&2; exit 2; }
ss -ltnp > "$OUT/listeners.txt" 2>&1 || true
# every listener of the ministack process must be on 127.0.0.1
if grep "pid=$MS_PID," "$OUT/listeners.txt" | grep -v "127.0.0.1:" ; then echo "ministack listens beyond loopback" >&2; exit 2; fi

# 3. the conformance run: HTTP only (a --target URL sets the transport; MQTT over WebSocket is not
#    supported by jobcert), real clock. Credentials are dummies: ministack routes a request to a
#    service by its SigV4 credential scope (unsigned requests land in S3) and checks no signature.
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret AWS_REGION=us-east-1
mkdir -p "$OUT/run"
set +e
timeout --signal=INT --kill-after=60 1800 "$JOBCERT" run "$SCEN" \
  --target "http://127.0.0.1:$PORT" --control "http://127.0.0.1:$PORT" --target-time-scale 1 \
  --concurrency "$CONCURRENCY" --report-dir "$OUT/run" ${DEVIATIONS:+--deviations "$DEVIATIONS"} ${JOBCERT_ARGS:-} \
  2>&1 | tee "$OUT/console.txt"
RC=${PIPESTATUS[0]}
set -e
echo "jobcert exit code: $RC" | tee -a "$OUT/console.txt"
exit "$RC"
