// Affinity: which key created each upload session, file and cached content (SPEC 3.3).
//
// A file or cache belongs to the Google project of the key that made it, so every later
// request naming it must go out with that key. Bindings are kept in memory for lookups
// and handed to the store at once (TakePending + the on_change callback), and restored
// from it at start. Thread-safe: one mutex inside.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/state_records.h"
#include "common/time.h"

namespace gkm {

class Affinity {
 public:
  void Bind(std::string_view kind, std::string_view name, std::string_view key_id, TimePoint now);
  std::optional<std::string> Find(std::string_view kind, std::string_view name) const;
  void Restore(const std::vector<Binding>& bindings);
  std::vector<Binding> TakePending();
  void SetOnChange(std::function<void()> fn);

 private:
  static std::string Key(std::string_view kind, std::string_view name);
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> key_by_resource_;
  std::vector<Binding> pending_;
  std::function<void()> on_change_;
};

}  // namespace gkm
