-- Exchanges codes made beforehand (BENCH_CODES, one per line), each once; a thread whose share
-- is used up stops. Client authentication in BENCH_AUTH.
local auth = env("BENCH_AUTH")
local token_path = env("BENCH_TOKEN_PATH")
local redirect = env("BENCH_REDIRECT")
local threads_total = tonumber(env("BENCH_THREADS"))
local mine = {}
local i = 0

function init(args)
  local n = 0
  for line in io.lines(env("BENCH_CODES")) do
    if n % threads_total == thread_id then mine[#mine + 1] = line end
    n = n + 1
  end
end

function request()
  started()
  i = i + 1
  local code = mine[i]
  if not code then
    count("ran_out")
    wrk.thread:stop()
    code = "used-up"
  end
  return wrk.format("POST", token_path, {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, form({ { "grant_type", "authorization_code" }, { "code", code }, { "redirect_uri", redirect } }))
end

function response(status, headers, body)
  if mine[i] then count_status(status) end
end
