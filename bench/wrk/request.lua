-- wrk request for the benchmarks: POST with a fixed JSON body and the client token.
-- Environment (set by bench/run.sh):
--   BENCH_SHAPE  native | openai | openai-stream   (which body and which auth header)
--   BENCH_TOKEN  the client token (x-goog-api-key for native, Authorization: Bearer for openai)
-- The URL (path and query) comes from wrk's command line. Non-2xx answers are counted by
-- wrk itself ("Non-2xx or 3xx responses"); no response() hook, so that wrk stays cheap.
local shape = os.getenv("BENCH_SHAPE") or "native"
local token = os.getenv("BENCH_TOKEN") or "bench-token"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if shape == "native" then
  wrk.headers["x-goog-api-key"] = token
  wrk.body = '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'
elseif shape == "openai" then
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.body = '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hello"}]}'
elseif shape == "openai-stream" then
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.body = '{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"Hello"}]}'
else
  error("BENCH_SHAPE must be native, openai or openai-stream")
end
