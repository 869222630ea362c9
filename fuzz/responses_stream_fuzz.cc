// libFuzzer target: any upstream byte stream, cut anywhere, through the Responses stream
// translator: it never crashes, hangs or reads out of bounds, its output does not depend
// on where the bytes were cut, and it always ends in a terminal event. Built and run by
// scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "translate/responses_stream.h"

namespace {

std::string Run(std::string_view bytes, size_t cut, bool encrypted) {
  gkm::ResponsesContext ctx;
  ctx.id = "resp_fuzz";
  ctx.include_encrypted = encrypted;
  ctx.custom_tools.insert("apply_patch");
  ctx.new_id = [](std::string_view prefix) { return std::string(prefix) + "x"; };
  gkm::ResponsesStreamTranslator t(ctx);
  std::string out = t.Feed(bytes.substr(0, cut));
  out += t.Feed(bytes.substr(cut));
  out += t.Finish();
  if (!t.done()) __builtin_trap();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bool encrypted = size % 2 == 1;
  const std::string whole = Run(bytes, 0, encrypted);
  if (Run(bytes, size / 2, encrypted) != whole) __builtin_trap();
  if (whole.find("event: response.completed") == std::string::npos &&
      whole.find("event: response.incomplete") == std::string::npos &&
      whole.find("event: response.failed") == std::string::npos) {
    __builtin_trap();
  }
  return 0;
}
