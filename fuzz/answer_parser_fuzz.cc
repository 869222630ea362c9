// libFuzzer target: AnswerParser on arbitrary upstream bytes, delivered in pieces whose sizes
// come from the input, into a tiny output buffer. It must never read or write out of
// bounds, never take more bytes than it was given, never write more than it may, and stop.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/http/error.hpp>

#include "upstream/answer_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;   // bytes per delivery
  const size_t cap = 1 + data[1] % 16;    // the reader's buffer
  std::string_view wire(reinterpret_cast<const char*>(data + 2), size - 2);
  gkm::AnswerParser p;
  if (data[0] & 0x80) p.SetNoBody();
  std::string buffered;
  char out[16];
  size_t fed = 0;
  for (int rounds = 0; rounds < 100000; ++rounds) {
    if (fed < wire.size()) {
      size_t n = std::min(step, wire.size() - fed);
      buffered.append(wire.substr(fed, n));
      fed += n;
    }
    boost::system::error_code ec;
    if (!p.header_done()) {
      size_t used = p.PutHead(buffered, ec);
      if (used > buffered.size()) std::abort();
      if (ec && ec != boost::beast::http::error::need_more) return 0;
      buffered.erase(0, used);
      if (!p.header_done()) {
        if (fed == wire.size()) break;
        continue;
      }
    }
    auto [used, produced] = p.PutBody(buffered, out, cap, ec);
    if (used > buffered.size() || produced > cap) std::abort();
    buffered.erase(0, used);
    if (ec || p.is_done()) return 0;
    if (used == 0 && produced == 0 && fed == wire.size()) break;
  }
  boost::system::error_code ec;
  p.PutEof(ec);
  return 0;
}
