-- wrk script of the proxy benchmark: the same request over and over on
-- keep-alive connections.
--
--   wrk -t1 -c50 -d5s -s absolute.lua http://PROXY:PORT/ -- TARGET
--
-- TARGET is what goes in the request line. An absolute URI
-- ("http://127.0.0.1:8080/1k") makes a forward-proxy request
-- ("GET http://127.0.0.1:8080/1k HTTP/1.1") with Host set to that URI's
-- authority, as RFC 9112 section 3.2.2 asks; a path ("/1k") makes an
-- origin-form request for a server or a reverse proxy, with wrk's own Host
-- (the address on the command line).
--
-- The request is formatted once, in init(); done() prints one line that
-- bench_proxy.py reads: "wrk-result key=value ...".

function init(args)
	local target = args[1] or "/"
	local authority = target:match("^%a+://([^/?#]+)")
	wrk.path = target
	if authority then
		wrk.headers["Host"] = authority
	end
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
