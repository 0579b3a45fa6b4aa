-- One fixed request, over and over: GET (discovery, JWKS, userinfo with BENCH_AUTH) or a POST
-- with BENCH_BODY (client_credentials, introspection).
wrk.method = env("BENCH_METHOD", "GET")
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

function request()
  started()
  return wrk.format()
end

function response(status, headers, body)
  count_status(status)
end
