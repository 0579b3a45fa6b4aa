-- Whole logins as a new browser each time, one connection per thread (-t = -c):
--   GET /authorize → 303 to the login page; GET it (the flow cookie, the CSRF token);
--   POST the identifier → the password page; POST the password (argon2id) → 303 with a code;
--   POST the code to /token → 200.
-- A login whose step answers anything else is counted by step and status and started over.
-- BENCH_PACE_MS waits that long before each login (the overload run's offered rate).
local tenant = env("BENCH_TENANT")
local client = env("BENCH_CLIENT")
local auth = env("BENCH_AUTH")
local redirect = env("BENCH_REDIRECT")
local users = tonumber(env("BENCH_USERS"))
local user_format = env("BENCH_USER_FORMAT")   -- e.g. "bench%d@bench.test"
local password = env("BENCH_PASSWORD")
local pace = tonumber(env("BENCH_PACE_MS", "0"))

local step = 1
local jar = {}
local login_page, request_id, csrf, code, email
local login_started, step_started
local logins = 0

-- Each connection is a resident's browser with a client address of its own (the server trusts
-- X-Forwarded-For in the benchmark's configuration).
local function address()
  return string.format("10.77.%d.%d", math.floor(thread_id / 250), thread_id % 250 + 1)
end

local function cookie_header()
  local parts = {}
  for name, value in pairs(jar) do parts[#parts + 1] = name .. "=" .. value end
  return table.concat(parts, "; ")
end

local function keep_cookies(headers)
  for key, value in pairs(headers) do
    if string.lower(key) == "set-cookie" then
      local name, val = value:match("^%s*([^=]+)=([^;]*)")
      if name then jar[name] = val end
    end
  end
end

local function restart(reason)
  count(reason)
  step = 1
  jar = {}
end

function delay()
  if step == 1 then return pace end
  return 0
end

function request()
  started()
  step_started = now_us()
  if step == 1 then
    login_started = step_started
    logins = logins + 1
    count("attempts")
    email = string.format(user_format, (thread_id + logins * 7) % users)
    local path = "/" .. tenant .. "/authorize?" .. form({
      { "client_id", client }, { "response_type", "code" }, { "scope", "openid email" },
      { "redirect_uri", redirect }, { "state", "s" .. logins }, { "nonce", "n" .. logins },
    })
    return wrk.format("GET", path, { ["X-Forwarded-For"] = address() })
  elseif step == 2 then
    return wrk.format("GET", login_page,
      { ["Cookie"] = cookie_header(), ["X-Forwarded-For"] = address() })
  elseif step == 3 then
    return wrk.format("POST", "/" .. tenant .. "/login/identifier", {
      ["Cookie"] = cookie_header(),
      ["X-Forwarded-For"] = address(),
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, form({ { "csrf", csrf }, { "request", request_id }, { "identifier", email } }))
  elseif step == 4 then
    return wrk.format("POST", "/" .. tenant .. "/login/password", {
      ["Cookie"] = cookie_header(),
      ["X-Forwarded-For"] = address(),
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, form({ { "csrf", csrf }, { "request", request_id }, { "identifier", email },
              { "password", password } }))
  else
    return wrk.format("POST", "/" .. tenant .. "/token", {
      ["Authorization"] = auth,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, form({ { "grant_type", "authorization_code" }, { "code", code },
              { "redirect_uri", redirect } }))
  end
end

function response(status, headers, body)
  count_status(status)
  keep_cookies(headers)
  local took = now_us() - step_started
  if step == 1 then
    local location = header(headers, "Location")
    if status ~= 303 or not location then return restart("authorize_" .. status) end
    login_page = path_of(location)
    request_id = login_page:match("[?&]request=([^&]+)")
    step = 2
  elseif step == 2 then
    csrf = body:match('name="csrf" value="([^"]+)"')
    if status ~= 200 or not csrf then return restart("login_page_" .. status) end
    step = 3
  elseif step == 3 then
    if status ~= 200 or not body:find("current-password", 1, true) then
      return restart("identifier_" .. status)
    end
    step = 4
  elseif step == 4 then
    local location = header(headers, "Location") or ""
    code = location:match("[?&]code=([^&]+)")
    if status == 503 then
      count("password_503")
      if header(headers, "Retry-After") then count("password_503_retry_after") end
      record_max("password_503_us", took)
      return restart("refused_busy")
    end
    if status ~= 303 or not code then return restart("password_" .. status) end
    step = 5
  else
    if status ~= 200 then return restart("token_" .. status) end
    count("logins")
    samples[#samples + 1] = now_us() - login_started
    step = 1
    jar = {}
  end
end
