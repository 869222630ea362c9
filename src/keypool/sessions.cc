#include "keypool/sessions.h"

#include <openssl/evp.h>

#include <cstdint>
#include <memory>

namespace gkm {

namespace {

void AddPart(EVP_MD_CTX* ctx, std::string_view part) {
  uint64_t n = part.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  EVP_DigestUpdate(ctx, len, sizeof len);
  EVP_DigestUpdate(ctx, part.data(), part.size());
}

}  // namespace

SessionId SessionIdOf(std::string_view client, std::string_view session, std::string_view model) {
  // As server.cc's DigestOf: the algorithm fetched once, a context per thread (OpenSSL 3's
  // one-shot calls look the algorithm up under a lock and allocate each time).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE] = {};
  unsigned int len = 0;
  if (sha256 && ctx && EVP_DigestInit_ex2(ctx.get(), sha256, nullptr)) {
    AddPart(ctx.get(), client);
    AddPart(ctx.get(), session);
    AddPart(ctx.get(), model);
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
  }
  // A libcrypto that cannot hash leaves every id zero: all sessions share one preference,
  // which costs cache hits, never a request.
  SessionId id;
  std::memcpy(id.bytes.data(), digest, id.bytes.size());
  return id;
}

MemorySessions::MemorySessions(size_t capacity, Millis idle)
    : capacity_(capacity == 0 ? 1 : capacity), idle_(idle) {}

std::optional<std::string> MemorySessions::Find(const SessionId& id, TimePoint now) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  if (now - it->second->last_used >= idle_) {
    lru_.erase(it->second);
    by_id_.erase(it);
    return std::nullopt;
  }
  // Found, not touched: only a serving Bind() renews a session, so that a session whose
  // requests all fail does not keep its entry alive.
  return it->second->key_id;
}

void MemorySessions::Bind(const SessionId& id, std::string_view key_id, TimePoint now) {
  std::lock_guard lock(mu_);
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    Entry& e = *it->second;
    if (e.key_id != key_id) e.key_id.assign(key_id);
    e.last_used = now;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{id, std::string(key_id), now});
  by_id_.emplace(id, lru_.begin());
  EvictLocked(now);
}

void MemorySessions::EvictLocked(TimePoint now) {
  while (!lru_.empty() && (lru_.size() > capacity_ || now - lru_.back().last_used >= idle_)) {
    by_id_.erase(lru_.back().id);
    lru_.pop_back();
  }
}

size_t MemorySessions::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace gkm
