// SignatureCache: the thoughtSignature Gemini attached to each tool call the proxy handed
// to an OpenAI client, by tool-call id, so that the next turn can carry it back even when
// the client drops unknown fields (WIRE.md C). Bounded: the oldest entries go first.
// Thread-safe: one mutex inside.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gkm {

class SignatureCache {
 public:
  explicit SignatureCache(size_t capacity = 100000) : capacity_(capacity) {}
  void Put(std::string_view id, std::string_view signature);
  std::optional<std::string> Get(std::string_view id) const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> by_id_;
  std::deque<std::string> order_;
};

}  // namespace gkm
