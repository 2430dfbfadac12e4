-- wrk script for the proxy-overhead benchmark.
--
-- Sends POST requests whose body is the content of $BENCH_BODY_FILE (read once
-- per wrk thread, so every request carries the exact same bytes the driver
-- checked beforehand). At the end prints ONE line:
--
--   BENCH_JSON {"target":...,"requests":N,"duration_us":...,"rps":...,
--               "errors":{"connect":..,"read":..,"write":..,"status":..,"timeout":..},
--               "latency_us":{"p50":..,"p95":..,"p99":..,"max":..}, ...}
--
-- The labels (target, payload, concurrency, repetition) come from environment
-- variables set by bench/run.sh; they are copied verbatim into the line.
-- "status" errors are wrk's count of responses with status >= 400; socket
-- errors are reported as-is. Nothing is hidden or retried.
--
-- No response() callback on purpose: defining one makes wrk hand every
-- response body (up to 2 MiB) to Lua, which would slow the client down.
-- Response size is checked instead through bytes_per_request.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local body_file = env("BENCH_BODY_FILE", nil)
if body_file == nil then
  error("BENCH_BODY_FILE is not set")
end
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/octet-stream"

-- Minimal JSON string escaping for the label values.
local function jstr(s)
  s = tostring(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local function jnum(x)
  return string.format("%.3f", x)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local rps = 0
  local bpr = 0
  if secs > 0 then rps = summary.requests / secs end
  if summary.requests > 0 then bpr = summary.bytes / summary.requests end
  local parts = {
    '"kind":"run"',
    '"target":' .. jstr(env("BENCH_TARGET", "?")),
    '"payload_bytes":' .. tonumber(env("BENCH_PAYLOAD", "0")),
    '"concurrency":' .. tonumber(env("BENCH_CONCURRENCY", "0")),
    '"rep":' .. tonumber(env("BENCH_REP", "0")),
    '"body_bytes_sent":' .. #body,
    '"requests":' .. summary.requests,
    '"duration_us":' .. summary.duration,
    '"bytes_read":' .. summary.bytes,
    '"bytes_per_request":' .. jnum(bpr),
    '"rps":' .. jnum(rps),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%s}',
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, jnum(latency.mean)),
  }
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
