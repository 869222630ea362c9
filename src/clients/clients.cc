#include "clients/clients.h"

#include <algorithm>

#include "common/model_aliases.h"

namespace gkm {
namespace {

constexpr int64_t kWindow = 60;  // seconds in the minute window

int64_t SecondOf(TimePoint t) {
  int64_t ms = ToUnixMs(t);
  return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

std::string_view ModelKey(std::string_view model) { return model.empty() ? "-" : model; }

}  // namespace

std::string_view RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kModel:
      return "model";
    case Refusal::kMinute:
      return "rpm";
    case Refusal::kDay:
      return "rpd";
    case Refusal::kNone:
      break;
  }
  return "";
}

Client::Client(ClientSpec spec, const QuotaClock& clock) : spec_(std::move(spec)), clock_(clock) {}

bool Client::ModelAllowed(std::string_view model) const {
  if (spec_.models.empty() || model.empty() || model == "-") return true;
  return std::any_of(spec_.models.begin(), spec_.models.end(),
                     [&](const std::string& glob) { return GlobMatch(glob, model); });
}

void Client::Advance(TimePoint now) {
  const int64_t second = SecondOf(now);
  if (second > newest_second_) {
    if (second - newest_second_ >= kWindow) {
      buckets_.fill(0);
      minute_total_ = 0;
    } else {
      for (int64_t s = newest_second_ + 1; s <= second; ++s) {
        uint32_t& b = buckets_[static_cast<size_t>((s % kWindow + kWindow) % kWindow)];
        minute_total_ -= b;
        b = 0;
      }
    }
    newest_second_ = second;
  }
  // A clock that steps back counts into the newest bucket: the window never runs backwards.
  if (now < day_end_) return;
  const int32_t day = clock_.DayNumberOf(now);
  if (day != day_ || day_end_ == TimePoint{}) {
    if (day_end_ != TimePoint{}) {
      const std::string name = QuotaClock::DayName(day_);
      for (auto& [model, count] : by_model_) {
        if (count.requests > count.stored) {
          carried_.push_back({spec_.name, model, name, count.requests - count.stored});
        }
      }
    }
    by_model_.clear();
    day_total_ = 0;
    day_ = day;
  }
  day_end_ = clock_.NextReset(now);
}

int64_t Client::SecondsUntilMinuteAdmits() const {
  // The oldest buckets leave the window one per second; the first k whose leaving brings the
  // total under the limit.
  int64_t total = minute_total_;
  for (int64_t k = 1; k <= kWindow; ++k) {
    total -= buckets_[static_cast<size_t>(((newest_second_ + k) % kWindow + kWindow) % kWindow)];
    if (total < spec_.rpm) return k;
  }
  return kWindow;
}

Admission Client::Admit(std::string_view model, TimePoint now) {
  auto refuse = [this](Refusal why, int64_t wait) {
    refused_[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
    return Admission{why, wait};
  };
  if (!ModelAllowed(model)) return refuse(Refusal::kModel, 0);
  std::lock_guard lock(mu_);
  Advance(now);
  const int64_t others_today = others_day_ == day_ ? others_today_ : 0;
  if (spec_.rpd != 0 && day_total_ + others_today >= spec_.rpd) {
    int64_t ms = (day_end_ - now).count();
    return refuse(Refusal::kDay, std::max<int64_t>(1, (ms + 999) / 1000));
  }
  if (spec_.rpm != 0 && minute_total_ + others_minute_ >= spec_.rpm) {
    return refuse(Refusal::kMinute, SecondsUntilMinuteAdmits());
  }
  ++buckets_[static_cast<size_t>((newest_second_ % kWindow + kWindow) % kWindow)];
  ++minute_total_;
  ++day_total_;
  std::string_view key = ModelKey(model);
  auto it = by_model_.find(key);
  if (it == by_model_.end()) it = by_model_.emplace(std::string(key), ModelCount{}).first;
  ++it->second.requests;
  // Only a client with a per-minute limit needs the others' minutes: the others' counts
  // of one without would be read for nothing, and waking the Redis writer on every
  // admission made it a round trip per request (bench: Redis mode 0.61x of local).
  if (!on_count_ || spec_.rpm == 0) return {};
  const int64_t minute = ToUnixMs(now) / 60000;
  if (unsent_ != 0 && unsent_minute_ != minute) {
    unsent_done_.push_back({spec_.name, unsent_minute_, unsent_});
    unsent_ = 0;
  }
  unsent_minute_ = minute;
  if (unsent_++ == 0 && unsent_done_.empty()) on_count_();  // at most once per take
  return {};
}

void Client::SetOthersToday(std::string_view day, int64_t today, TimePoint now) {
  std::lock_guard lock(mu_);
  Advance(now);
  if (day != QuotaClock::DayName(day_)) return;
  others_day_ = day_;
  others_today_ = today;
}

void Client::SetOthersMinute(int64_t minute) {
  std::lock_guard lock(mu_);
  others_minute_ = minute;
}

void Client::TakeMinuteCounts(std::vector<ClientMinuteCount>& out) {
  std::lock_guard lock(mu_);
  for (ClientMinuteCount& c : unsent_done_) out.push_back(std::move(c));
  unsent_done_.clear();
  if (unsent_ != 0) out.push_back({spec_.name, unsent_minute_, std::exchange(unsent_, 0)});
}

void Client::CountStatus(int code) {
  if (code >= 0 && code < static_cast<int>(codes_.size())) {
    codes_[static_cast<size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  }
}

ClientView Client::View(TimePoint now) {
  ClientView v;
  v.spec = spec_;
  {
    std::lock_guard lock(mu_);
    Advance(now);
    v.day = QuotaClock::DayName(day_);
    v.today_requests = day_total_;
    v.minute_requests = minute_total_;
    for (const auto& [model, count] : by_model_) v.by_model[model] = count.requests;
  }
  for (size_t c = 0; c < codes_.size(); ++c) {
    if (uint64_t n = codes_[c].load(std::memory_order_relaxed)) {
      v.codes.emplace_back(static_cast<int>(c), n);
    }
  }
  for (size_t r = 0; r < refused_.size(); ++r) {
    v.refused[r] = refused_[r].load(std::memory_order_relaxed);
  }
  return v;
}

void Client::TakePending(std::vector<ClientUsageDelta>& out) {
  std::lock_guard lock(mu_);
  for (ClientUsageDelta& row : carried_) out.push_back(std::move(row));
  carried_.clear();
  if (day_end_ == TimePoint{}) return;  // nothing admitted yet
  std::string day;
  for (auto& [model, count] : by_model_) {
    if (count.requests == count.stored) continue;
    if (day.empty()) day = QuotaClock::DayName(day_);
    out.push_back({spec_.name, model, day, count.requests - count.stored});
    count.stored = count.requests;
  }
}

void Client::Restore(const ClientUsageDelta& row, TimePoint now) {
  std::lock_guard lock(mu_);
  Advance(now);
  if (row.day != QuotaClock::DayName(day_) || row.requests <= 0) return;
  ModelCount& count = by_model_[row.model];
  count.requests += row.requests;
  count.stored += row.requests;
  day_total_ += row.requests;
}

Clients::Clients(std::vector<ClientSpec> specs, const QuotaClock& clock) {
  for (ClientSpec& s : specs) clients_.push_back(std::make_unique<Client>(std::move(s), clock));
}

Client* Clients::Find(std::string_view name) {
  for (auto& c : clients_) {
    if (c->name() == name) return c.get();
  }
  return nullptr;
}

std::vector<ClientView> Clients::View(TimePoint now) {
  std::vector<ClientView> out;
  out.reserve(clients_.size());
  for (auto& c : clients_) out.push_back(c->View(now));
  return out;
}

std::vector<ClientUsageDelta> Clients::TakePending() {
  std::vector<ClientUsageDelta> out;
  for (auto& c : clients_) c->TakePending(out);
  return out;
}

void Clients::Restore(const std::vector<ClientUsageDelta>& rows, TimePoint now) {
  for (const ClientUsageDelta& row : rows) {
    // A client since removed from the config: its rows stay in the store, unused.
    if (Client* c = Find(row.client)) c->Restore(row, now);
  }
}

void Clients::SetOthersToday(std::string_view day, const std::map<std::string, int64_t>& today,
                             TimePoint now) {
  for (const auto& [name, n] : today) {
    if (Client* c = Find(name)) c->SetOthersToday(day, n, now);
  }
}

void Clients::SetOthersMinute(const std::map<std::string, int64_t>& minute) {
  for (const auto& [name, n] : minute) {
    if (Client* c = Find(name)) c->SetOthersMinute(n);
  }
}

std::vector<ClientMinuteCount> Clients::TakeMinuteCounts() {
  std::vector<ClientMinuteCount> out;
  for (auto& c : clients_) c->TakeMinuteCounts(out);
  return out;
}

void Clients::OnCount(const std::function<void()>& f) {
  for (auto& c : clients_) c->OnCount(f);
}

}  // namespace gkm
