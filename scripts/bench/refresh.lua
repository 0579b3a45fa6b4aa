-- Refreshes along one chain per thread (refresh tokens rotate): the thread's first request
-- exchanges its code (line thread_id + 1 of BENCH_CODES), each later one presents the refresh
-- token the previous answer gave. A refused refresh breaks the chain and stops the thread.
local auth = env("BENCH_AUTH")
local token_path = env("BENCH_TOKEN_PATH")
local redirect = env("BENCH_REDIRECT")
local refresh_token = nil
local code = nil

function init(args)
  local n = 0
  for line in io.lines(env("BENCH_CODES")) do
    if n == thread_id then code = line end
    n = n + 1
  end
end

function request()
  local body
  if refresh_token then
    started()
    body = form({ { "grant_type", "refresh_token" }, { "refresh_token", refresh_token } })
  else
    body = form({ { "grant_type", "authorization_code" }, { "code", code or "none" },
                  { "redirect_uri", redirect } })
  end
  return wrk.format("POST", token_path, {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end

function response(status, headers, body)
  local was_refresh = refresh_token ~= nil
  if was_refresh then count_status(status) end
  local next_token = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if next_token then
    refresh_token = next_token
  else
    count(was_refresh and "chain_broken" or "first_exchange_failed")
    wrk.thread:stop()
  end
end
