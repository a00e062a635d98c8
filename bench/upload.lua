-- wrk: POST the same real sealed archive again and again; each is a new escrow.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/pgp-encrypted"
wrk.headers["X-Zescrow-Host"] = "benchbox"
local f = assert(io.open(os.getenv("ZESCROW_BENCH_SEALED"), "rb"))
wrk.body = f:read("*all")
f:close()
