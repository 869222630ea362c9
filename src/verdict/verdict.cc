#include "verdict/verdict.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace gkm {
namespace {

namespace json = boost::json;

// What Classify needs from a Google error body; everything else is ignored.
struct ErrorBody {
  std::string message;
  std::vector<std::string> reasons;    // details[].reason (ErrorInfo)
  std::vector<std::string> quota_ids;  // QuotaFailure violations[].quotaId
  std::vector<std::string> zero_ids;   // the quotaIds of violations whose quotaValue is 0
  bool quota_value_zero = false;       // some violation has quotaValue 0
  std::vector<QuotaFact> quotas;
  bool has_retry_info = false;
  Millis retry_delay{0};
};

const json::value* Field(const json::object& o, std::string_view key) { return o.if_contains(key); }

std::string StringField(const json::object& o, std::string_view key) {
  const json::value* v = Field(o, key);
  if (v != nullptr && v->is_string()) return std::string(v->get_string());
  return {};
}

// Caps a delay so that adding it to a TimePoint can never overflow.
constexpr int64_t kMaxDelaySeconds = int64_t{1} << 32;

// A protobuf Duration in its JSON form: "26s", "45.837906927s", "-1.5s". Fractions are kept to
// the millisecond (truncated); anything unreadable or negative is 0.
Millis ParseDurationString(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    if (s[i] == '-') return Millis(0);
    ++i;
  }
  int64_t seconds = 0;
  size_t int_digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++int_digits) {
    seconds = std::min(seconds * 10 + (s[i] - '0'), kMaxDelaySeconds);
  }
  int64_t millis = 0;
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++frac_digits) {
      if (frac_digits < 3) millis = millis * 10 + (s[i] - '0');
    }
    for (size_t d = frac_digits; d < 3; ++d) millis *= 10;
  }
  if (int_digits + frac_digits == 0) return Millis(0);
  if (i < s.size() && s[i] == 's') ++i;
  if (i != s.size()) return Millis(0);
  return Millis(seconds * 1000 + millis);
}

// A Duration as an object {"seconds": "26", "nanos": 5e8}: not the canonical JSON mapping,
// but cheap to accept.
Millis ParseDurationObject(const json::object& o) {
  auto number = [&](std::string_view key) -> int64_t {
    const json::value* v = Field(o, key);
    if (v == nullptr) return 0;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), INT64_MAX));
    if (v->is_double()) return static_cast<int64_t>(std::clamp(v->get_double(), -1e18, 1e18));
    if (v->is_string()) return ParseDurationString(v->get_string()).count() / 1000;
    return 0;
  };
  int64_t seconds = number("seconds");
  int64_t nanos = number("nanos");
  if (seconds < 0 || nanos < 0) return Millis(0);
  return Millis(std::min(seconds, kMaxDelaySeconds) * 1000 +
                std::min<int64_t>(nanos, 999999999) / 1000000);
}

bool IsZero(const json::value& v) {
  if (v.is_string()) {
    std::string_view s = v.get_string();
    return !s.empty() && s.find_first_not_of('0') == std::string_view::npos;
  }
  if (v.is_int64()) return v.get_int64() == 0;
  if (v.is_uint64()) return v.get_uint64() == 0;
  if (v.is_double()) return v.get_double() == 0.0;
  return false;
}

// A quotaValue: "250" or 250; -1 when it is neither a whole number nor in range.
int64_t QuotaValue(const json::value* q) {
  if (q == nullptr) return -1;
  if (q->is_int64()) return q->get_int64() >= 0 ? q->get_int64() : -1;
  if (q->is_uint64())
    return q->get_uint64() <= INT64_MAX ? static_cast<int64_t>(q->get_uint64()) : -1;
  if (!q->is_string()) return -1;
  std::string_view s = q->get_string();
  if (s.empty() || s.size() > 18) return -1;
  int64_t n = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return -1;
    n = n * 10 + (ch - '0');
  }
  return n;
}

// What a violation teaches: its window from the quotaId (PerMinute / PerDay), its metric
// from the quotaId or quotaMetric (input tokens, else requests). Nothing when the window is
// not named or the value unreadable.
std::optional<QuotaFact> FactOf(std::string_view id, std::string_view metric,
                                const json::value* q) {
  QuotaFact f;
  if (id.find("PerDay") != std::string_view::npos) {
    f.window = QuotaFact::Window::kDay;
  } else if (id.find("PerMinute") != std::string_view::npos) {
    f.window = QuotaFact::Window::kMinute;
  } else {
    return std::nullopt;
  }
  const bool tokens =
      id.find("Token") != std::string_view::npos || metric.find("token") != std::string_view::npos;
  f.metric = tokens ? QuotaFact::Metric::kInputTokens : QuotaFact::Metric::kRequests;
  f.value = QuotaValue(q);
  if (f.value < 0) return std::nullopt;
  return f;
}

void ReadDetail(const json::object& d, ErrorBody* out) {
  if (std::string reason = StringField(d, "reason"); !reason.empty()) {
    out->reasons.push_back(std::move(reason));
  }
  if (const json::value* vs = Field(d, "violations"); vs != nullptr && vs->is_array()) {
    for (const json::value& v : vs->get_array()) {
      if (!v.is_object()) continue;
      const json::object& vo = v.get_object();
      std::string id = StringField(vo, "quotaId");
      const json::value* q = Field(vo, "quotaValue");
      if (q != nullptr && IsZero(*q)) {
        out->quota_value_zero = true;
        out->zero_ids.push_back(id);
      }
      if (auto fact = FactOf(id, StringField(vo, "quotaMetric"), q)) out->quotas.push_back(*fact);
      if (!id.empty()) out->quota_ids.push_back(std::move(id));
    }
  }
  if (const json::value* r = Field(d, "retryDelay"); r != nullptr) {
    out->has_retry_info = true;
    Millis delay{0};
    if (r->is_string()) delay = ParseDurationString(r->get_string());
    if (r->is_object()) delay = ParseDurationObject(r->get_object());
    out->retry_delay = std::max(out->retry_delay, delay);
  }
}

// The object that holds code/message/status/details: {"error":{...}}, or the streaming form
// [{"error":{...}}].
const json::object* FindError(const json::value& root) {
  auto from_object = [](const json::value& v) -> const json::object* {
    if (!v.is_object()) return nullptr;
    const json::value* e = v.get_object().if_contains("error");
    return e != nullptr && e->is_object() ? &e->get_object() : nullptr;
  };
  if (root.is_array()) {
    for (const json::value& v : root.get_array()) {
      if (const json::object* e = from_object(v)) return e;
    }
    return nullptr;
  }
  return from_object(root);
}

ErrorBody ReadErrorBody(std::string_view body) {
  ErrorBody out;
  if (body.empty()) return out;
  try {
    boost::system::error_code ec;
    json::value root = json::parse(body, ec);
    if (ec) return out;
    const json::object* err = FindError(root);
    if (err == nullptr) return out;
    out.message = StringField(*err, "message");
    if (const json::value* ds = Field(*err, "details"); ds != nullptr && ds->is_array()) {
      for (const json::value& d : ds->get_array()) {
        if (d.is_object()) ReadDetail(d.get_object(), &out);
      }
    }
  } catch (const std::exception&) {
    // Only allocation failure can get here; a body we cannot read decides nothing.
    return ErrorBody{};
  }
  return out;
}

bool AnyContains(const std::vector<std::string>& items, std::string_view needle) {
  return std::any_of(items.begin(), items.end(),
                     [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

bool Has(const std::vector<std::string>& items, std::string_view value) {
  return std::find(items.begin(), items.end(), value) != items.end();
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// "..., limit: 0, model: ..." in the message, but not "limit: 0.5" or "limit: 05".
bool MentionsLimitZero(std::string_view message) {
  constexpr std::string_view kNeedle = "limit: 0";
  for (size_t at = message.find(kNeedle); at != std::string_view::npos;
       at = message.find(kNeedle, at + 1)) {
    const size_t end = at + kNeedle.size();
    if (end == message.size() ||
        !(std::isdigit(static_cast<unsigned char>(message[end])) || message[end] == '.')) {
      return true;
    }
  }
  return false;
}

Verdict Make(Outcome outcome, std::string reason, Millis delay = Millis(0)) {
  Verdict v;
  v.outcome = outcome;
  v.retry_delay = delay;
  v.reason = std::move(reason);
  return v;
}

// The ids among `ids` that contain `window` ("PerDay", "PerMinute"), or all when empty.
bool AnyPerProject(const std::vector<std::string>& ids, std::string_view window) {
  return std::any_of(ids.begin(), ids.end(), [&](const std::string& id) {
    return (window.empty() || id.find(window) != std::string::npos) &&
           id.find("PerProject") != std::string::npos;
  });
}

Verdict Classify429(const ErrorBody& e, Bare429 bare429) {
  const Millis delay = e.retry_delay;
  Verdict v;
  if (e.quota_value_zero || MentionsLimitZero(e.message)) {
    v = Make(Outcome::kDayExhausted, "quota limit 0", delay);
    v.per_project = AnyPerProject(e.zero_ids, "");
  } else if (AnyContains(e.quota_ids, "PerDay")) {
    // Per-day 429s carry a RetryInfo too, so the quotaId must be looked at first.
    v = Make(Outcome::kDayExhausted, "per-day quota", delay);
    v.per_project = AnyPerProject(e.quota_ids, "PerDay");
  } else if (AnyContains(e.quota_ids, "PerMinute")) {
    v = Make(Outcome::kCooling, "per-minute quota", delay);
    v.per_project = AnyPerProject(e.quota_ids, "PerMinute");
  } else if (e.has_retry_info) {
    return Make(Outcome::kCooling, "rate limited", delay);
  }
  if (v.outcome != Outcome::kSuccess) {
    v.quotas = e.quotas;
    return v;
  }
  if (bare429 == Bare429::kDay) {
    return Make(Outcome::kDayExhausted, "rate limited (no details)");
  }
  return Make(Outcome::kCooling, "rate limited (no details)");
}

// A 403 is the key's fault only when it is about the consumer (the key or its project); a 403
// about a resource (a File or cache of another project) or a missing key is the request's.
Verdict Classify403(const ErrorBody& e) {
  if (Has(e.reasons, "CONSUMER_SUSPENDED")) return Make(Outcome::kInvalid, "key suspended");
  if (Has(e.reasons, "API_KEY_INVALID")) return Make(Outcome::kInvalid, "API key invalid");
  if (Has(e.reasons, "SERVICE_DISABLED")) return Make(Outcome::kInvalid, "service disabled");
  // API_KEY_SERVICE_BLOCKED, API_KEY_IP_ADDRESS_BLOCKED, API_KEY_HTTP_REFERRER_BLOCKED, ...
  const bool blocked = std::any_of(e.reasons.begin(), e.reasons.end(), [](std::string_view r) {
    return r.starts_with("API_KEY_") && r.ends_with("_BLOCKED");
  });
  if (blocked) {
    return Make(Outcome::kInvalid, "key blocked");
  }
  if (Has(e.reasons, "CONSUMER_INVALID")) return Make(Outcome::kInvalid, "key denied");
  if (Contains(e.message, "unregistered callers"))
    return Make(Outcome::kClientError, "upstream 403");
  if (Contains(e.message, "suspended")) return Make(Outcome::kInvalid, "key suspended");
  if (Contains(e.message, "has been denied access") || Contains(e.message, "API key")) {
    return Make(Outcome::kInvalid, "key denied");
  }
  return Make(Outcome::kClientError, "upstream 403");
}

}  // namespace

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kDayExhausted:
      return "day_exhausted";
    case Outcome::kCooling:
      return "cooling";
    case Outcome::kInvalid:
      return "invalid";
    case Outcome::kTransient:
      return "transient";
    case Outcome::kClientError:
      return "client_error";
  }
  return "unknown";
}

Verdict Classify(int status, std::string_view body, Bare429 bare429) {
  if (status >= 200 && status < 400) return Make(Outcome::kSuccess, "");
  const std::string upstream = "upstream " + std::to_string(status);
  if (status >= 400 && status < 500) {
    if (status != 400 && status != 403 && status != 429)
      return Make(Outcome::kClientError, upstream);
    const ErrorBody e = ReadErrorBody(body);
    if (status == 429) return Classify429(e, bare429);
    if (status == 403) return Classify403(e);
    if (Has(e.reasons, "API_KEY_INVALID")) return Make(Outcome::kInvalid, "API key invalid");
    return Make(Outcome::kClientError, upstream);
  }
  // 5xx, and anything that is not a final HTTP status at all: the upstream's trouble.
  return Make(Outcome::kTransient, upstream);
}

Verdict TransportFailure(std::string reason) {
  return Make(Outcome::kTransient, std::move(reason));
}

TimePoint CoolingUntil(TimePoint now, Millis retry_delay) {
  const TimePoint next_minute =
      std::chrono::floor<std::chrono::minutes>(now) + std::chrono::minutes(1);
  return std::max({now + retry_delay, next_minute, now + std::chrono::seconds(1)});
}

}  // namespace gkm
