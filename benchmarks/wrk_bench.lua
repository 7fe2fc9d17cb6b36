-- wrk script of the benchmarks (benchmarks/loadgen.py starts it).
--
-- BENCH_PATH          request path, e.g. /api/esim/check/
-- BENCH_ICCIDS        comma-separated ICCIDs: POST {"iccid": ...} rotating over them; empty: GET BENCH_PATH
-- BENCH_COUNT_CACHED  "1": count answers saying "cached":true / "cached":false (proves which path ran)
--
-- done() prints one line "BENCH_JSON {...}" with the request count, errors and latency percentiles (us).

local path = os.getenv("BENCH_PATH") or "/"
local iccids = os.getenv("BENCH_ICCIDS") or ""
local count_cached = os.getenv("BENCH_COUNT_CACHED") == "1"
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
  table.insert(threads, thread)
end

function init(args)
  cached_true = 0
  cached_false = 0
  reqs = {}
  for iccid in string.gmatch(iccids, "[^,]+") do
    local body = '{"iccid": "' .. iccid .. '"}'
    table.insert(reqs, wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body))
  end
  if #reqs == 0 then
    reqs[1] = wrk.format("GET", path)
  end
  idx = (offset or 0) % #reqs
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

if count_cached then
  response = function(status, headers, body)
    if body and string.find(body, '"cached":true', 1, true) then
      cached_true = cached_true + 1
    elseif body and string.find(body, '"cached":false', 1, true) then
      cached_false = cached_false + 1
    end
  end
end

function done(summary, latency, requests)
  local ct, cf = 0, 0
  for _, thread in ipairs(threads) do
    ct = ct + (tonumber(thread:get("cached_true")) or 0)
    cf = cf + (tonumber(thread:get("cached_false")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, '
      .. '"cached_true": %d, "cached_false": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    ct, cf
  ))
end
