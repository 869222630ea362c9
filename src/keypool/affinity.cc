#include "keypool/affinity.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <charconv>

namespace gkm {
namespace {

// "2024-05-01T12:00:00.123456Z" or "...+02:00"; nullopt when it is not RFC 3339.
std::optional<TimePoint> ParseRfc3339(std::string_view t) {
  auto num = [&t](size_t at, size_t len, int* out) {
    if (t.size() < at + len) return false;
    auto [p, ec] = std::from_chars(t.data() + at, t.data() + at + len, *out);
    return ec == std::errc() && p == t.data() + at + len;
  };
  int y, mo, d, h, mi, s;
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':' || !num(0, 4, &y) || !num(5, 2, &mo) || !num(8, 2, &d) ||
      !num(11, 2, &h) || !num(14, 2, &mi) || !num(17, 2, &s)) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                  std::chrono::day(d)};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  size_t i = 19;
  int64_t ms = 0;
  if (i < t.size() && t[i] == '.') {
    int64_t scale = 100;
    for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i, scale /= 10)
      ms += (t[i] - '0') * scale;
  }
  int64_t offset_min = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int oh, om;
    if (t.size() < i + 6 || t[i + 3] != ':' || !num(i + 1, 2, &oh) || !num(i + 4, 2, &om)) {
      return std::nullopt;
    }
    offset_min = (t[i] == '+' ? 1 : -1) * (oh * 60 + om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != t.size()) return std::nullopt;
  auto day = std::chrono::sys_days(ymd).time_since_epoch();
  int64_t total = std::chrono::duration_cast<Millis>(day).count() +
                  ((h * 60 + mi) * 60 + s) * int64_t{1000} + ms - offset_min * 60000;
  return FromUnixMs(total);
}

}  // namespace

std::string Affinity::Key(std::string_view kind, std::string_view name) {
  std::string k(kind);
  k += ':';
  k += name;
  return k;
}

Millis Affinity::LifeOf(std::string_view kind) {
  if (kind == "upload") return kUploadLife;
  if (kind == "cache") return kCacheLife;
  return kFileLife;
}

std::optional<TimePoint> Affinity::ExpiryInAnswer(std::string_view body) {
  namespace json = boost::json;
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec || !root.is_object()) return std::nullopt;
  const json::object* o = &root.as_object();
  if (const json::value* file = o->if_contains("file"); file && file->is_object()) {
    o = &file->as_object();
  }
  for (const char* field : {"expireTime", "expirationTime"}) {
    if (const json::value* v = o->if_contains(field); v && v->is_string()) {
      if (auto t = ParseRfc3339(v->as_string())) return t;
    }
  }
  return std::nullopt;
}

void Affinity::Bind(std::string_view kind, std::string_view name, std::string_view key_id,
                    TimePoint now, std::optional<TimePoint> expires) {
  TimePoint until = now + LifeOf(kind);
  if (expires && *expires > until) until = *expires;
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    SweepLocked(ToUnixMs(clock_()));
    by_resource_.insert_or_assign(Key(kind, name), Entry{std::string(key_id), ToUnixMs(until)});
    pending_.push_back(Binding{std::string(kind), std::string(name), std::string(key_id),
                               ToUnixMs(now), ToUnixMs(until)});
    notify = on_change_;
  }
  if (notify) notify();
}

std::optional<std::string> Affinity::Find(std::string_view kind, std::string_view name) const {
  int64_t now = ToUnixMs(clock_());
  std::lock_guard lock(mu_);
  auto it = by_resource_.find(Key(kind, name));
  if (it == by_resource_.end() || it->second.expires_ms <= now) return std::nullopt;
  return it->second.key_id;
}

void Affinity::Restore(const std::vector<Binding>& bindings) {
  int64_t now = ToUnixMs(clock_());
  std::lock_guard lock(mu_);
  for (const auto& b : bindings) {
    int64_t expires = b.expires_ms;
    if (expires == 0) {
      expires = b.created_ms + LifeOf(b.kind).count();
      if (expires > now)
        pending_.push_back(Binding{b.kind, b.name, b.key_id, b.created_ms, expires});
    }
    if (expires <= now) continue;  // the store deletes it at the first sweep
    by_resource_[Key(b.kind, b.name)] = Entry{b.key_id, expires};
  }
}

void Affinity::SweepLocked(int64_t now_ms) {
  if (now_ms < next_sweep_ms_) return;
  next_sweep_ms_ = now_ms + kSweepEvery.count();
  std::erase_if(by_resource_, [now_ms](const auto& kv) { return kv.second.expires_ms <= now_ms; });
  expired_by_ms_ = now_ms;
}

std::vector<Binding> Affinity::TakePending() {
  std::lock_guard lock(mu_);
  SweepLocked(ToUnixMs(clock_()));
  std::vector<Binding> out = std::move(pending_);
  pending_.clear();
  return out;
}

int64_t Affinity::TakeExpiredBy() {
  std::lock_guard lock(mu_);
  return std::exchange(expired_by_ms_, 0);
}

size_t Affinity::size() const {
  std::lock_guard lock(mu_);
  return by_resource_.size();
}

void Affinity::SetOnChange(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(fn);
}

}  // namespace gkm
