// ResponseStore: the OpenAI Responses exchanges kept for previous_response_id, GET and
// DELETE /v1/responses/{id} (SPEC 3.7), 24 h each.
//
// A table `responses` in the state store's database (<dir>/gemini-key-manager.db), on a
// connection of its own, with a bounded in-memory cache in front of it: Put() and Delete()
// change the cache at once and hand the write to a background thread (the request's thread
// never waits on SQLite's lock); Get() answers from the cache, and reads the database only
// for an id the cache does not hold (one stored before a restart, or evicted). Expired rows
// are deleted by the writer (at most once a minute, by the latest time a Put() was given:
// the clock is the caller's) and never returned.
//
// Bounds: an exchange over kMaxRecordBytes is not kept (Put() says so); the cache holds at
// most kMaxCacheBytes, the oldest entries leaving it first (they stay in the database).
// Thread-safe: one mutex for the cache, the writer thread owns its connection, reads of the
// database take a second connection under their own mutex.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct sqlite3;

namespace gkm {

struct StoredResponse {
  std::string body;   // the response object as the client got it
  std::string items;  // the conversation up to and including its output, a JSON array
  std::string owner;  // who may read it (the route's business: a digest of a client token)
};

class ResponseStore {
 public:
  static constexpr size_t kMaxRecordBytes = size_t{32} << 20;
  static constexpr size_t kMaxCacheBytes = size_t{256} << 20;

  // Opens (creating the table if needed) <dir>/gemini-key-manager.db. nullptr and *error
  // on failure.
  static std::unique_ptr<ResponseStore> Open(const std::string& dir, std::string* error);
  ~ResponseStore();
  ResponseStore(const ResponseStore&) = delete;
  ResponseStore& operator=(const ResponseStore&) = delete;

  // Keeps `r` under `id` until expires_ms (unix ms). False and *error when it is too big.
  bool Put(const std::string& id, const StoredResponse& r, int64_t now_ms, int64_t expires_ms,
           std::string* error);
  // The exchange, unless unknown, deleted or expired at now_ms.
  std::optional<StoredResponse> Get(const std::string& id, int64_t now_ms);
  // False when there was nothing (alive) to delete.
  bool Delete(const std::string& id, int64_t now_ms);
  // Waits until every write handed to the writer so far is in the database (tests).
  void Sync();

 private:
  struct Entry {
    StoredResponse r;
    int64_t expires_ms = 0;
  };
  struct Op {
    bool put = true;
    std::string id;
    Entry entry;
  };

  ResponseStore(sqlite3* writer, sqlite3* reader);
  void WriterLoop();
  void Evict();
  std::optional<Entry> ReadDb(const std::string& id);

  sqlite3* writer_db_;
  sqlite3* reader_db_;
  std::mutex reader_mu_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable synced_cv_;
  std::unordered_map<std::string, Entry> cache_;
  std::unordered_map<std::string, bool> deleted_;  // deleted ids the writer has not reached
  std::deque<std::string> order_;                  // cache insertion order, for eviction
  size_t cache_bytes_ = 0;
  std::vector<Op> pending_;
  int64_t clock_ms_ = 0;  // the latest now_ms a caller gave (the sweep's clock)
  uint64_t queued_ = 0;   // ops handed to the writer
  uint64_t written_ = 0;  // ops the writer finished
  bool stop_ = false;
  std::thread writer_;
};

}  // namespace gkm
