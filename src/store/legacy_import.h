// Import of the Python proxy's key_usage.txt (SPEC 5): {"date": "YYYY-MM-DD", "counts":
// {key: n}, "model_counts": {key: {model: n}}, "exhausted_keys": [key, ...] or, in the old
// proxy's last version, {key: [model, ...]}}, keyed by real key. Turned into rows keyed by
// key id, so the real keys go no further. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/state_records.h"

namespace gkm {

struct LegacyUsage {
  std::string date;  // as written in the file
  Batch batch;       // usage for `quota_day`, exhausted states until `until_ms`
  size_t keys = 0;   // keys the file mentions
  // Parts of the file that were of an unexpected shape and skipped (the rest is imported);
  // one line each, for the log. Never a key.
  std::vector<std::string> warnings;
};

// Parses the file's text. `quota_day` names the day the counts are booked under and
// `until_ms` the end of that day (the next reset). False and *error on a malformed file.
bool ParseLegacyUsage(std::string_view text, const std::string& quota_day, int64_t until_ms,
                      LegacyUsage* out, std::string* error);

}  // namespace gkm
