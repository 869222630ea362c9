-- wrk request for the benchmarks: POST with a fixed JSON body and the client token.
-- Environment (set by bench/run.sh):
--   BENCH_SHAPE  native | openai | openai-stream | anthropic | anthropic-stream | responses |
--                responses-stream   (which body and which auth header)
--   BENCH_TOKEN  the client token (x-goog-api-key for native, x-api-key for anthropic,
--                Authorization: Bearer for openai and responses)
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
elseif shape == "anthropic" or shape == "anthropic-stream" then
  -- As Claude Code sends it: x-api-key, anthropic-version, a system block, max_tokens.
  wrk.headers["x-api-key"] = token
  wrk.headers["anthropic-version"] = "2023-06-01"
  local stream = shape == "anthropic-stream" and '"stream":true,' or ""
  wrk.body = '{"model":"gemini-2.5-flash","max_tokens":1024,' .. stream ..
    '"system":[{"type":"text","text":"You are terse."}],' ..
    '"messages":[{"role":"user","content":"Hello"}]}'
elseif shape == "responses" or shape == "responses-stream" then
  -- As Codex CLI sends it: instructions, item input, store false (nothing kept).
  wrk.headers["Authorization"] = "Bearer " .. token
  local stream = shape == "responses-stream" and '"stream":true,' or ""
  wrk.body = '{"model":"gemini-2.5-flash","store":false,' .. stream ..
    '"instructions":"You are terse.",' ..
    '"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Hello"}]}]}'
else
  error("BENCH_SHAPE must be native, openai, openai-stream, anthropic, anthropic-stream, " ..
    "responses or responses-stream")
end
