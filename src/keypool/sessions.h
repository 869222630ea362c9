// Sessions: soft session affinity (WIRE-AGENTS E2) — which key served a client's session
// last, so that the session's next request goes to the same Google project, where Gemini's
// implicit prefix cache (kept per project, for minutes) can still hold its long prompt.
//
// A session is what the client names one: `prompt_cache_key` (OpenAI Chat Completions and
// Responses), Claude Code's `X-Claude-Code-Session-Id` header or Anthropic's
// `metadata.user_id`. It is known here only by a SessionId, a 128-bit digest of (client
// credential, session string, model): no raw string of the client's is kept, and the same
// string from two client tokens or for two models names two sessions.
//
// The binding is a preference, never a constraint: the request path asks Find() before its
// first pick, serves with that key only if the pool finds it usable, and Bind()s whichever
// key gave the success (proxy/attempts.cc). Losing a binding costs a cache miss, nothing else.
//
// SessionStore is the interface the request path uses, so that a shared backend (Redis, for
// several proxies behind one balancer) can replace the in-memory table later. MemorySessions
// is that table: bounded (at most `capacity` sessions, the least recently used evicted
// first) and forgetting a session idle for `idle`. Find and Bind are O(1). Thread-safe: one
// mutex inside, held for a hash lookup and a list splice. Never reads the clock: `now`
// comes from the caller.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/time.h"

namespace gkm {

struct SessionId {
  std::array<unsigned char, 16> bytes{};
  bool operator==(const SessionId&) const = default;
};

// The id of `session` of the client presenting `client` (its credential, or "" when the
// proxy has no client tokens) for `model`. The parts are length-prefixed before hashing, so
// no two different triples share their input.
SessionId SessionIdOf(std::string_view client, std::string_view session, std::string_view model);

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // The key id that served the session last, unless the session is unknown or expired.
  virtual std::optional<std::string> Find(const SessionId& id, TimePoint now) = 0;
  // `key_id` served the session now.
  virtual void Bind(const SessionId& id, std::string_view key_id, TimePoint now) = 0;
};

class MemorySessions final : public SessionStore {
 public:
  // Sessions kept at most (about 150 bytes each: ~15 MB when full). Claude Code and Codex
  // open one session per conversation; a proxy for a team sees thousands an hour.
  static constexpr size_t kCapacity = 100'000;
  // A session unused this long is forgotten. Gemini's implicit cache lives minutes, so a
  // binding older than that is worth little; an hour leaves room for a slow conversation.
  static constexpr Millis kIdle{3600LL * 1000};

  explicit MemorySessions(size_t capacity = kCapacity, Millis idle = kIdle);
  MemorySessions(const MemorySessions&) = delete;
  MemorySessions& operator=(const MemorySessions&) = delete;

  std::optional<std::string> Find(const SessionId& id, TimePoint now) override;
  void Bind(const SessionId& id, std::string_view key_id, TimePoint now) override;
  // Sessions held (expired ones count until they are evicted).
  size_t size() const;

 private:
  struct IdHash {
    size_t operator()(const SessionId& id) const {
      size_t h;  // the id is a digest already: any of its bytes hash well
      std::memcpy(&h, id.bytes.data(), sizeof h);
      return h;
    }
  };
  struct Entry {
    SessionId id;
    std::string key_id;
    TimePoint last_used;
  };
  using Lru = std::list<Entry>;  // most recently used first

  // Drops expired sessions from the least recently used end, then the oldest over capacity.
  void EvictLocked(TimePoint now);

  const size_t capacity_;
  const Millis idle_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<SessionId, Lru::iterator, IdHash> by_id_;
};

}  // namespace gkm
