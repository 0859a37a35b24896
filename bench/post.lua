-- wrk script: POST the JSON body in $WRK_BODY_FILE with the headers the systems need, and
-- print one JSON line of results (latency in microseconds) for bench/run.py to read.
-- Every request carries its own number in place of the body's REQNO token (bench/systems.py),
-- so no two requests have the same text.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
local template = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_API_KEY") or "sk-bench")
local number = 0

function request()
  number = number + 1
  local body = template:gsub("REQNO", string.format("%08d", number % 100000000))
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50":%d,"p90":%d,"p99":%d,' ..
    '"mean":%.1f,"max":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
    '"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
