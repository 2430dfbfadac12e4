-- wrk script for the SlimData benchmark (bench/slimdata.py).
--
-- Every request is a proposal `POST /data/sets/<id>` with a unique id:
--   <BENCH_RUN_ID>-t<thread>-<n>
-- (BENCH_RUN_ID is unique per wrk run, the thread number per wrk thread, n
-- counts that thread's requests), so no two requests of a benchmark write the
-- same key. The body is the content of $BENCH_BODY_FILE, read once.
--
-- A request counts as committed only on a 200 (SlimData answers it once the
-- entry is committed and applied). response() counts 200s and other statuses
-- per thread; done() sums them over the threads and prints ONE line:
--
--   BENCH_JSON {"kind":"run","case":...,"requests":N,"ok":N,"non_200":N,
--               "duration_us":...,"committed_ops_s":...,"errors":{...},
--               "latency_us":{"p50":..,"p95":..,"p99":..,"max":..,"mean":..}}
--
-- wrk's latency covers every completed request (a non-200 would be in it
-- too; the driver warns when non_200 or socket errors are not zero).

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

local run_id = env("BENCH_RUN_ID", "run")

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state). `ok` and
-- `other` are globals so that done() can read them with thread:get().
local n = 0
ok = 0
other = 0
local prefix = nil
local headers = { ["Content-Type"] = "application/octet-stream" }

function init(args)
  prefix = "/data/sets/" .. run_id .. "-t" .. tostring(tid) .. "-"
end

function request()
  n = n + 1
  return wrk.format("POST", prefix .. n, headers, body)
end

function response(status, hdrs, resp_body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

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
  local total_ok, total_other = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_other = total_other + (t:get("other") or 0)
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local ops = 0
  if secs > 0 then ops = total_ok / secs end
  local parts = {
    '"kind":"run"',
    '"case":' .. jstr(env("BENCH_CASE", "?")),
    '"via":' .. jstr(env("BENCH_VIA", "?")),
    '"payload_bytes":' .. #body,
    '"concurrency":' .. tonumber(env("BENCH_CONCURRENCY", "0")),
    '"requests":' .. summary.requests,
    '"ok":' .. total_ok,
    '"non_200":' .. total_other,
    '"duration_us":' .. summary.duration,
    '"committed_ops_s":' .. jnum(ops),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%s}',
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, jnum(latency.mean)),
  }
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
