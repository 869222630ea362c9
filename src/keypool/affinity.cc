#include "keypool/affinity.h"

namespace gkm {

std::string Affinity::Key(std::string_view kind, std::string_view name) {
  std::string k(kind);
  k += ':';
  k += name;
  return k;
}

void Affinity::Bind(std::string_view kind, std::string_view name, std::string_view key_id,
                    TimePoint now) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = key_by_resource_.insert_or_assign(Key(kind, name), std::string(key_id));
    (void)it;
    (void)inserted;
    pending_.push_back(
        Binding{std::string(kind), std::string(name), std::string(key_id), ToUnixMs(now)});
    notify = on_change_;
  }
  if (notify) notify();
}

std::optional<std::string> Affinity::Find(std::string_view kind, std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = key_by_resource_.find(Key(kind, name));
  if (it == key_by_resource_.end()) return std::nullopt;
  return it->second;
}

void Affinity::Restore(const std::vector<Binding>& bindings) {
  std::lock_guard lock(mu_);
  for (const auto& b : bindings) key_by_resource_[Key(b.kind, b.name)] = b.key_id;
}

std::vector<Binding> Affinity::TakePending() {
  std::lock_guard lock(mu_);
  std::vector<Binding> out = std::move(pending_);
  pending_.clear();
  return out;
}

void Affinity::SetOnChange(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(fn);
}

}  // namespace gkm
