-- Makes authorization codes beforehand: GET /authorize as a browser with an SSO session
-- (BENCH_COOKIE) for a first-party client (no consent), keeping the code of each redirect.
-- done_extra writes them, one per line, to BENCH_CODES_OUT.
local cookie = env("BENCH_COOKIE")
local base = env("BENCH_AUTHORIZE")   -- /{tenant}/authorize?client_id=…&redirect_uri=…&…
codes = {}
local n = 0

function request()
  started()
  n = n + 1
  local path = base .. "&state=s" .. thread_id .. "x" .. n .. "&nonce=n" .. n
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end

function response(status, headers, body)
  count_status(status)
  local location = header(headers, "Location") or ""
  local code = location:match("[?&]code=([^&]+)")
  if status == 303 and code then
    codes[#codes + 1] = code
  else
    count("no_code")
  end
end

function done_extra(threads)
  local out = assert(io.open(env("BENCH_CODES_OUT"), "w"))
  for _, thread in ipairs(threads) do
    for _, code in ipairs(thread:get("codes") or {}) do out:write(code, "\n") end
  end
  out:close()
end
