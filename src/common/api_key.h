// ApiKey: a real Gemini API key held as a secret.
//
// The key's text can be read only through reveal(), which the upstream client calls
// when it writes the x-goog-api-key header. The type has no stream operator and no fmt
// formatter, so putting one in a log line is a compile error rather than a leak; logs
// use id() or masked(). Immutable, so safe to share between threads.
#pragma once

#include <string>
#include <string_view>

namespace gkm {

class ApiKey {
 public:
  explicit ApiKey(std::string value);

  // The secret itself. Only for the wire to Google.
  std::string_view reveal() const { return value_; }
  // Stable, non-reversible id: "k" + 12 hex digits of SHA-256(key).
  const std::string& id() const { return id_; }
  // "AIza…x9kQ": the first four and the last four characters around an ellipsis.
  std::string masked() const;

  friend bool operator==(const ApiKey& a, const ApiKey& b) { return a.value_ == b.value_; }

 private:
  std::string value_;
  std::string id_;
};

// The id the proxy uses for a key's text (also for keys found in key_usage.txt).
std::string KeyIdOf(std::string_view key_text);

}  // namespace gkm
