-- wrk script for `== ack` (bench/ack.py): POSTs distinct signed webhook deliveries.
--
-- The deliveries are prepared by the benchmark (HMAC-SHA256 cannot be computed here at
-- wrk's pace): the file named by WRK_BODIES holds one per line, "signature<TAB>body".
-- Each is formatted into a complete request once, in init(); request() hands them out in
-- order (after the last one it starts over: the benchmark prepares more than it expects
-- to send and says so when that happened). done() prints one JSON line with the figures.

local path = os.getenv("WRK_BODIES")
local prepared = {}
local count = 0
local sent = 0

function init(args)
  for line in io.lines(path) do
    local tab = line:find("\t", 1, true)
    count = count + 1
    prepared[count] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
    }, line:sub(tab + 1))
  end
end

function request()
  sent = sent + 1
  return prepared[(sent - 1) % count + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
