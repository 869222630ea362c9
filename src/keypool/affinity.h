// Affinity: which key created each upload session, file and cached content (SPEC 3.3).
//
// A file or cache belongs to the Google project of the key that made it, so every later
// request naming it must go out with that key. Bindings are kept in memory for lookups
// and handed to the store at once (TakePending + the on_change callback), and restored
// from it at start.
//
// Bindings expire with what they name, so that memory (and the store's table) stays bounded
// by what Google still keeps: files 48 h after upload, caches at their expireTime, upload
// sessions after a week; never before kFileLife / kCacheLife of their creation (an expiry
// later than Google's only costs memory; an earlier one would send a request with the wrong
// key). Expired bindings are no longer found, are swept from memory once a minute, and the
// sweep's cutoff goes to the store (TakeExpiredBy) to delete them there too.
// Thread-safe: one mutex inside. The clock is injected for tests.
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
  // Google deletes uploaded files after 48 h; a cache's default TTL is 1 h but a client may
  // give any, and may extend it later without the proxy seeing the new time: 48 h is the
  // floor. A resumable upload session URL is valid for about a week.
  static constexpr Millis kFileLife{48LL * 3600 * 1000};
  static constexpr Millis kCacheLife{48LL * 3600 * 1000};
  static constexpr Millis kUploadLife{7LL * 24 * 3600 * 1000};
  static constexpr Millis kSweepEvery{60 * 1000};

  explicit Affinity(std::function<TimePoint()> clock = NowMs) : clock_(std::move(clock)) {}

  // `expires`: when the answer that created the resource says it goes away (ExpiryInAnswer);
  // the binding lives until the later of that and `now` + the kind's life.
  void Bind(std::string_view kind, std::string_view name, std::string_view key_id, TimePoint now,
            std::optional<TimePoint> expires = std::nullopt);
  // The key id bound to the resource, unless there is none or it has expired.
  std::optional<std::string> Find(std::string_view kind, std::string_view name) const;
  // Bindings from the store; expired ones are skipped. Rows of older versions (no expiry)
  // are given one from their creation time and queued to be written back.
  void Restore(const std::vector<Binding>& bindings);
  // New bindings for the store (sweeps first when a sweep is due).
  std::vector<Binding> TakePending();
  // The cutoff of sweeps not yet handed to the store (0: none): bindings that expired at or
  // before it are to be deleted there (Batch::bindings_expired_by_ms).
  int64_t TakeExpiredBy();
  void SetOnChange(std::function<void()> fn);
  size_t size() const;

  // How long a kind of binding lives at least.
  static Millis LifeOf(std::string_view kind);
  // The expiry named in a creating answer: "expireTime" (cachedContents) or
  // "expirationTime" (files, also inside {"file": {...}}), RFC 3339. nullopt if none.
  static std::optional<TimePoint> ExpiryInAnswer(std::string_view body);

 private:
  struct Entry {
    std::string key_id;
    int64_t expires_ms;
  };
  static std::string Key(std::string_view kind, std::string_view name);
  void SweepLocked(int64_t now_ms);  // when due

  std::function<TimePoint()> clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_resource_;
  std::vector<Binding> pending_;
  int64_t next_sweep_ms_ = 0;  // 0: the first take sweeps (and cleans the store's table)
  int64_t expired_by_ms_ = 0;
  std::function<void()> on_change_;
};

}  // namespace gkm
