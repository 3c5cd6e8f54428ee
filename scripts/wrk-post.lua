-- wrk's request for scripts/load.sh: a POST of the JSON file named by WRK_BODY.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
