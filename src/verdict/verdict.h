// Verdict: what one upstream answer says about the key that was used (SPEC 4.2).
//
// Classify() reads the status and the error body Google returned and decides whether the
// key succeeded, is out of its daily quota, must cool down for a while, is dead, failed
// transiently, or whether the request itself was at fault. Pure: no clock, no I/O,
// thread-safe. The body may be anything (truncated, not JSON, a JSON array as the
// streaming form sends errors); a body that cannot be read falls back on the status.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace gkm {

enum class Outcome {
  kSuccess,       // 2xx, 3xx
  kDayExhausted,  // per-day quota, or a quota whose value is 0: until the next reset
  kCooling,       // per-minute quota or only a RetryInfo: until the delay has passed
  kInvalid,       // the key is dead (API_KEY_INVALID, suspended consumer, ...)
  kTransient,     // 5xx, connection failure, timeout before headers
  kClientError,   // any other 4xx: the request's fault; returned to the client as is
};

// The label of an outcome in metrics and logs: success, day_exhausted, cooling, invalid,
// transient, client_error.
std::string_view OutcomeName(Outcome o);

// What --bare-429 says a 429 without quota details means.
enum class Bare429 { kDay, kCooling };

// One QuotaFailure violation of a 429, as the pool learns limits from it (SPEC 4.6):
// "GenerateRequestsPerDayPerProjectPerModel-FreeTier" with quotaValue "250" is a per-day
// request limit of 250 for the project and model.
struct QuotaFact {
  enum class Window : uint8_t { kMinute, kDay };
  enum class Metric : uint8_t { kRequests, kInputTokens };
  Window window = Window::kMinute;
  Metric metric = Metric::kRequests;
  int64_t value = -1;  // quotaValue; -1 when absent or unreadable
};

struct Verdict {
  Outcome outcome = Outcome::kSuccess;
  // The RetryInfo delay when the body carries one (fractions kept to the millisecond).
  Millis retry_delay{0};
  // A short human reason for the admin API and logs: "per-day quota", "per-minute quota",
  // "quota limit 0", "rate limited", "API key invalid", "key suspended", "upstream 503", ...
  std::string reason;
  // The quota that decided a cooling or exhaustion is the project's (its quotaId says
  // PerProject): every key of the key's project is in that state for the model (SPEC 4.5).
  bool per_project = false;
  // Every violation of a 429 with a window Google names (minute or day) and a value.
  std::vector<QuotaFact> quotas;
};

Verdict Classify(int status, std::string_view body, Bare429 bare429);

// The verdict for an attempt that got no HTTP answer (refused, reset, timeout, TLS).
Verdict TransportFailure(std::string reason);

// When a key cooling with this delay may be used again: the later of now + delay and the
// next minute boundary (per-minute quotas reset at second :00), and at least 1 s from now.
TimePoint CoolingUntil(TimePoint now, Millis retry_delay);

}  // namespace gkm
