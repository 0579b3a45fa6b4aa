-- Shared by the benchmark's wrk scripts (scripts/bench.py prepends it to each): a monotonic
-- clock, per-thread counters, a cookie jar, form encoding, and done(), which prints one line
-- "BENCH {json}" with wrk's figures and the threads' counters for bench.py to read.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")

-- Microseconds of CLOCK_MONOTONIC.
function now_us()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + tonumber(timespec.tv_nsec) / 1000
end

-- Per-thread results, read by done() through thread:get.
statuses = {}   -- HTTP status -> count
counters = {}   -- name -> count
samples = {}    -- microsecond samples of whole operations (a login), if the script records them
maxima = {}     -- name -> the largest value seen
t_first = nil   -- when this thread sent its first request
t_last = nil    -- when it received its last response

function count(name, n)
  counters[name] = (counters[name] or 0) + (n or 1)
end

function record_max(name, value)
  if value > (maxima[name] or 0) then maxima[name] = value end
end

function count_status(status)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  t_last = now_us()
end

function started()
  if not t_first then t_first = now_us() end
end

function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then error("the benchmark script needs " .. name) end
    return default
  end
  return value
end

function urlencode(text)
  return (tostring(text):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function form(pairs)
  local parts = {}
  for _, pair in ipairs(pairs) do
    parts[#parts + 1] = urlencode(pair[1]) .. "=" .. urlencode(pair[2])
  end
  return table.concat(parts, "&")
end

-- A header of a response, whatever the case of its name.
function header(headers, name)
  local wanted = string.lower(name)
  for key, value in pairs(headers) do
    if string.lower(key) == wanted then return value end
  end
  return nil
end

-- The path and query of an absolute or relative URL.
function path_of(url)
  return (url:gsub("^https?://[^/]+", ""))
end

-- Thread bookkeeping for done().
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
  if setup_thread then setup_thread(thread, thread_count - 1) end
end

local function json_value(value)
  if type(value) == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return "null" end
    return string.format("%.0f", value)
  elseif type(value) == "table" then
    local parts = {}
    for key, inner in pairs(value) do
      parts[#parts + 1] = string.format("%q:%s", tostring(key), json_value(inner))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif value == nil then
    return "null"
  else
    return string.format("%q", tostring(value))
  end
end

local function percentile(sorted, p)
  if #sorted == 0 then return nil end
  local index = math.max(1, math.ceil(#sorted * p / 100))
  return sorted[index]
end

function done(summary, latency, requests)
  local all_statuses, all_counters, all_samples, all_maxima = {}, {}, {}, {}
  local first, last = nil, nil
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("statuses") or {}) do
      all_statuses[key] = (all_statuses[key] or 0) + n
    end
    for key, n in pairs(thread:get("counters") or {}) do
      all_counters[key] = (all_counters[key] or 0) + n
    end
    for key, value in pairs(thread:get("maxima") or {}) do
      if value > (all_maxima[key] or 0) then all_maxima[key] = value end
    end
    for _, sample in ipairs(thread:get("samples") or {}) do
      all_samples[#all_samples + 1] = sample
    end
    local f, l = thread:get("t_first"), thread:get("t_last")
    if f and (not first or f < first) then first = f end
    if l and (not last or l > last) then last = l end
  end
  table.sort(all_samples)
  local result = {
    requests = summary.requests,
    duration_us = summary.duration,
    active_us = (first and last) and (last - first) or nil,
    p50_us = latency:percentile(50.0),
    p99_us = latency:percentile(99.0),
    max_us = latency.max,
    errors_connect = summary.errors.connect,
    errors_read = summary.errors.read,
    errors_write = summary.errors.write,
    errors_timeout = summary.errors.timeout,
    statuses = all_statuses,
    counters = all_counters,
    maxima = all_maxima,
    operations = #all_samples,
    op_p50_us = percentile(all_samples, 50),
    op_p99_us = percentile(all_samples, 99),
    op_max_us = all_samples[#all_samples],
  }
  io.write("BENCH " .. json_value(result) .. "\n")
  if done_extra then done_extra(threads) end
end
