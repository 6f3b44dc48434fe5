-- post64k.lua: every request is a POST of exactly 64 KiB (65536 bytes) to the
-- URL given to wrk. ajpbench checks, before the benchmark, that each front
-- end delivers this same body intact to echo.jsp (bodyLength, bodySHA256).
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
