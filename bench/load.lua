-- wrk script for tests/benches/load.rs: cycles through prepared requests, one per line of the
-- file named by the first script argument (METHOD<TAB>PATH<TAB>BODY, BODY empty for a GET),
-- sent with the API key given as the second argument. Prints one RESULT line when done.
local prepared = {}
local next_index = 0

function init(args)
  local headers = {["Authorization"] = "Bearer " .. args[2]}
  local json_headers = {["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "application/json"}
  for line in io.lines(args[1]) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t(.*)$")
    if body == "" then
      prepared[#prepared + 1] = wrk.format(method, path, headers)
    else
      prepared[#prepared + 1] = wrk.format(method, path, json_headers, body)
    end
  end
  -- Threads start at different places in the list so they do not send the same request at once.
  next_index = math.random(#prepared)
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
