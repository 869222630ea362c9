// libFuzzer target for the Anthropic Messages stream translator on arbitrary bytes cut into
// arbitrary pieces: it never crashes, always ends, and how the bytes are cut does not change
// what comes out. Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "translate/anthropic_stream.h"

namespace {

// The first byte chooses the piece sizes; the rest is the stream.
std::vector<std::string_view> Cut(std::string_view stream, uint8_t seed) {
  std::vector<std::string_view> pieces;
  size_t pos = 0;
  uint32_t state = seed * 2654435761u + 1;
  while (pos < stream.size()) {
    state = state * 1103515245u + 12345u;
    const size_t len = 1 + (state >> 16) % 17;
    pieces.push_back(stream.substr(pos, len));
    pos += len;
  }
  return pieces;
}

std::string Translate(const std::vector<std::string_view>& pieces, bool broken) {
  int n = 0;
  gkm::AnthropicContext ctx;
  ctx.id = "msg_fuzz";
  ctx.model = "m";
  ctx.new_tool_use_id = [&n] { return "toolu_" + std::to_string(++n); };
  gkm::AnthropicStreamTranslator t(std::move(ctx));
  std::string out;
  for (std::string_view p : pieces) out += t.Feed(p);
  out += broken ? t.Error("broken") : t.Finish();
  if (!t.done()) __builtin_trap();
  // Every event is framed and ends in a blank line.
  if (!out.empty() && (!out.starts_with("event: ") || !out.ends_with("\n\n"))) __builtin_trap();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string_view> whole = {stream};
  const std::vector<std::string_view> pieces = Cut(stream, data[0]);
  const bool broken = (data[0] & 1) != 0;
  if (Translate(whole, broken) != Translate(pieces, broken)) __builtin_trap();
  return 0;
}
