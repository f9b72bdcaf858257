-- bench/post.lua: wrk script posting one email notification per request to the gateway.
--
--   wrk -t2 -c64 -d8s --latency -s bench/post.lua http://127.0.0.1:PORT/api/v1/notifications \
--       -- [mode=max|paced|e2e] [rate=R] [conns=C] [limit=N] [out=DIR] [user=UUID]
--
-- mode=max    closed loop at full speed (the default): each connection sends its next
--             request as soon as the previous answer arrived.
-- mode=paced  a fixed total rate R: each wrk thread keeps a schedule (its k-th request is due
--             at start + k * threads / R) and the delay() hook holds each request on any of
--             its connections until it is due (no wait when late). This is paced closed
--             loop, not open loop (wrk2): a request can only go out on a connection whose
--             previous answer has arrived, and latency is timed from the actual send, so
--             with all connections busy the delay is partly hidden (coordinated omission).
-- mode=e2e    like max, but each thread stops after limit/threads answers, and the
--             notification_id of every 202 is written to DIR/ids-<thread> (one per line),
--             so the harness can account for each accepted notification.
--
-- done() prints one line "BENCHJSON {...}" with the totals and latency percentiles (us).

local user = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10"
local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local function parse(args)
  local o = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then o[k] = v end
  end
  return o
end

function init(args)
  local o = parse(args)
  mode = o.mode or "max"
  user = o.user or user
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"notification_type":"email","user_id":"' .. user ..
    '","template_code":"bench","variables":{"name":"Bench"}}'
  accepted, other, answered = 0, 0, 0

  if mode == "paced" then
    -- This thread's share of the rate, as a schedule: its k-th request is due at
    -- start + k * interval; delay() holds each request until its time (0 when late).
    local ffi = require("ffi")
    ffi.cdef[[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clk_id, bench_timespec *tp);
    ]]
    local ts = ffi.new("bench_timespec")
    local function now_ms()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
    end
    local rate = tonumber(o.rate) or 1000
    local interval_ms = (tonumber(o.threads) or 2) * 1000.0 / rate
    local start, k = nil, 0
    function delay()
      local t = now_ms()
      start = start or t
      k = k + 1
      local d = start + k * interval_ms - t
      if d < 0 then return 0 end
      return d
    end
  end

  if mode == "e2e" then
    limit = math.ceil((tonumber(o.limit) or 1000) / (tonumber(o.threads) or 2))
    out = o.out or "."
    ids = assert(io.open(out .. "/ids-" .. tid, "w"))
    function response(status, headers, body)
      answered = answered + 1
      if status == 202 then
        local id = body:match('"notification_id"%s*:%s*"([^"]+)"')
        if id then
          accepted = accepted + 1
          ids:write(id, "\n")
        else
          other = other + 1
        end
      else
        other = other + 1
      end
      if answered == limit then
        -- wrk itself runs for -d seconds whatever its threads do: the marker tells the
        -- harness to end it (SIGINT) once every thread is done.
        ids:flush()
        local f = io.open(out .. "/done-" .. tid, "w")
        if f then f:close() end
        wrk.thread:stop()
      end
    end
  end
end

function done(summary, latency, requests)
  local s = summary
  local e = s.errors
  local acc, oth = 0, 0
  for _, t in ipairs(threads) do
    acc = acc + (t:get("accepted") or 0)
    oth = oth + (t:get("other") or 0)
  end
  local function p(q) return latency:percentile(q) end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"e2e_accepted":%d,"e2e_other":%d,' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p99_9":%d}}\n',
    s.requests, s.duration, s.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    acc, oth, latency.mean, latency.max, p(50), p(90), p(99), p(99.9)))
end
