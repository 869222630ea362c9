// libFuzzer target: RequestParser on arbitrary client bytes, delivered in pieces whose sizes
// come from the input, with a small body limit from the input. It must never read out of
// bounds, never take more bytes than it was given, never keep more body than the limit, and
// stop.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/http/error.hpp>

#include "common/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;       // bytes per delivery
  const uint64_t limit = 1 + data[1] % 4096;  // the body limit
  std::string_view wire(reinterpret_cast<const char*>(data + 2), size - 2);
  gkm::RequestParser p(limit);
  std::string buffered;
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
      if (!ec != p.header_done()) std::abort();  // a head without error, or need_more
      buffered.erase(0, used);
      if (!p.header_done()) {
        if (fed == wire.size()) break;
        continue;
      }
      if (p.version() != 10 && p.version() != 11) std::abort();
      if (p.chunked() && p.content_length()) std::abort();  // smuggling
      if (!p.has_body() && !p.is_done()) std::abort();
    }
    if (!p.is_done()) {
      size_t used = p.PutBody(buffered, ec);
      if (used > buffered.size()) std::abort();
      buffered.erase(0, used);
      if (p.body().size() > limit) std::abort();
      if (ec) return 0;
      if (used == 0 && fed == wire.size()) break;
    }
    if (p.is_done()) {
      // A length-framed body is exactly its length; done takes no more bytes.
      if (!p.chunked() && p.body().size() != p.content_length().value_or(0)) std::abort();
      if (!buffered.empty() && p.PutBody(buffered, ec) != 0) std::abort();
      return 0;
    }
  }
  return 0;
}
