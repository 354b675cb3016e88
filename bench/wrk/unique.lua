-- wrk script of the proxy benchmark: every request asks for a URL not asked
-- for before, by a counter in the query string.
--
--   wrk -t1 -c50 -d5s -s unique.lua http://PROXY:PORT/ -- TARGET [RUN]
--
-- TARGET as in absolute.lua: an absolute URI for a forward proxy (Host set
-- to its authority), a path for a server or a reverse proxy. Requests are
-- TARGET?u=RUN-1, TARGET?u=RUN-2, ...; RUN (default 0) keeps two runs
-- against the same proxy apart. With one wrk thread the counter is unique
-- across the run; with more, each thread counts on its own (pass -t1).
--
-- done() prints the "wrk-result" line bench_proxy.py reads.

local prefix = "/?u=0-"
local counter = 0

function init(args)
	local target = args[1] or "/"
	local authority = target:match("^%a+://([^/?#]+)")
	if authority then
		wrk.headers["Host"] = authority
	end
	prefix = target .. "?u=" .. (args[2] or "0") .. "-"
end

function request()
	counter = counter + 1
	return wrk.format(nil, prefix .. counter)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"wrk-result requests=%d bytes=%d duration_us=%d p99_us=%d " ..
		"connect=%d read=%d write=%d status=%d timeout=%d\n",
		summary.requests, summary.bytes, summary.duration,
		latency:percentile(99.0), e.connect, e.read, e.write, e.status,
		e.timeout))
end
