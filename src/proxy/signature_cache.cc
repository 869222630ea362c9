#include "proxy/signature_cache.h"

namespace gkm {

void SignatureCache::Put(std::string_view id, std::string_view signature) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = by_id_.insert_or_assign(std::string(id), std::string(signature));
  if (!inserted) return;
  order_.push_back(it->first);
  while (order_.size() > capacity_) {
    by_id_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<std::string> SignatureCache::Get(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gkm
