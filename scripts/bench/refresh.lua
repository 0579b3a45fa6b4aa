-- Refreshes along rotating chains (refresh tokens rotate at every use): BENCH_REFRESH_TOKENS
-- holds one refresh token per chain, each from a code exchanged beforehand; thread t (one
-- connection each) takes the chains on lines t, t + BENCH_THREADS, … and uses them in turn,
-- each time presenting the refresh token that chain's previous answer gave. Many short chains,
-- not one long one per connection: a client's chain rotates tens of times, not thousands, and a
-- store may pay per token of the chain (node-oidc-provider's in-memory adapter does).
-- A refused refresh breaks its chain; a thread without chains stops.
local auth = env("BENCH_AUTH")
local token_path = env("BENCH_TOKEN_PATH")
local threads_total = tonumber(env("BENCH_THREADS"))
local chains = {}
local current = 1

function init(args)
  local n = 0
  for line in io.lines(env("BENCH_REFRESH_TOKENS")) do
    if n % threads_total == thread_id then chains[#chains + 1] = line end
    n = n + 1
  end
end

function request()
  started()
  if #chains == 0 then
    count("no_chain_left")
    wrk.thread:stop()
  end
  local token = chains[current] or "none"
  return wrk.format("POST", token_path, {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, form({ { "grant_type", "refresh_token" }, { "refresh_token", token } }))
end

function response(status, headers, body)
  if #chains == 0 then return end
  count_status(status)
  local next_token = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if next_token then
    chains[current] = next_token
    current = current + 1
  else
    count("chain_broken")
    table.remove(chains, current)
  end
  if current > #chains then current = 1 end
end
