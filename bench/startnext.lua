-- wrk script: StartNextPendingJobExecution (PUT /things/<name>/jobs/$next, body {}), cycling
-- the thing name per request over <prefix>1 .. <prefix><count>.
--
--   wrk -t2 -c64 -d10s -s bench/startnext.lua http://127.0.0.1:PORT -- bench-dev- 256
--
-- At the end it prints one line `BENCH_JSON {...}` with the totals and latency percentiles
-- (microseconds) for bench/bench.py to read.

local prefix, count, next_index = "bench-dev-", 1, 0
local headers = { ["Content-Type"] = "application/json" }

-- Each wrk thread runs this file in its own Lua state; give each thread its own starting point.
local threads_made = 0
function setup(thread)
  thread:set("thread_number", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  if args[1] then prefix = args[1] end
  if args[2] then count = math.max(1, tonumber(args[2])) end
  next_index = ((thread_number or 0) * 7919) % count
end

function request()
  next_index = next_index % count + 1
  return wrk.format("PUT", "/things/" .. prefix .. next_index .. "/jobs/$next", headers, "{}")
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"seconds":%.6f,"per_second":%.3f,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
