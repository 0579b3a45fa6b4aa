-- The other endpoints while logins overload the server: discovery, JWKS, client_credentials
-- and userinfo in turn, each request BENCH_PACE_MS after the previous one.
local tenant = env("BENCH_TENANT")
local cc_auth = env("BENCH_CC_AUTH")
local bearer = env("BENCH_BEARER")
local pace = tonumber(env("BENCH_PACE_MS", "0"))
local n = 0

function delay()
  return pace
end

function request()
  started()
  n = n + 1
  local which = n % 4
  if which == 0 then
    return wrk.format("GET", "/" .. tenant .. "/.well-known/openid-configuration")
  elseif which == 1 then
    return wrk.format("GET", "/" .. tenant .. "/jwks")
  elseif which == 2 then
    return wrk.format("POST", "/" .. tenant .. "/token", {
      ["Authorization"] = cc_auth,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "grant_type=client_credentials")
  else
    return wrk.format("GET", "/" .. tenant .. "/userinfo", { ["Authorization"] = bearer })
  end
end

function response(status, headers, body)
  count_status(status)
end
