// libFuzzer target for the SSE side: SseReader and ChatStreamTranslator on arbitrary
// bytes, cut into arbitrary pieces. Besides not crashing, how the bytes are cut must not
// change what comes out. Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "translate/chat_stream.h"
#include "translate/sse_reader.h"

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

std::vector<std::string> ReadAll(const std::vector<std::string_view>& pieces, size_t bound) {
  gkm::SseReader r(bound);
  std::vector<std::string> out;
  for (std::string_view p : pieces) {
    for (std::string& e : r.Feed(p)) out.push_back(std::move(e));
  }
  for (std::string& e : r.Finish()) out.push_back(std::move(e));
  return out;
}

std::string Translate(const std::vector<std::string_view>& pieces, bool include_usage) {
  int n = 0;
  gkm::ResponseContext ctx;
  ctx.id = "chatcmpl-fuzz";
  ctx.created = 1;
  ctx.model = "m";
  ctx.new_tool_call_id = [&n] { return "call_" + std::to_string(++n); };
  gkm::ChatStreamTranslator t(std::move(ctx), include_usage);
  std::string out;
  for (std::string_view p : pieces) out += t.Feed(p);
  out += t.Finish();
  if (!t.done()) __builtin_trap();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string_view> whole = {stream};
  const std::vector<std::string_view> pieces = Cut(stream, data[0]);

  // A small bound so that the overflow path is exercised too; overflow may happen at a
  // different point depending on the cuts, so only compare when it does not.
  const std::vector<std::string> a = ReadAll(whole, 1 << 20);
  const std::vector<std::string> b = ReadAll(pieces, 1 << 20);
  if (a != b) __builtin_trap();
  (void)ReadAll(pieces, 64);

  const bool usage = (data[0] & 1) != 0;
  if (Translate(whole, usage) != Translate(pieces, usage)) __builtin_trap();
  return 0;
}
