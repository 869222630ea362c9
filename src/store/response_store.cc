#include "store/response_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace gkm {
namespace {

constexpr char kFileName[] = "gemini-key-manager.db";
constexpr int kBusyTimeoutMs = 5000;
constexpr int64_t kSweepEveryMs = 60 * 1000;

constexpr char kSchemaSql[] =
    "CREATE TABLE IF NOT EXISTS responses ("
    " id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL, body TEXT NOT NULL,"
    " items TEXT NOT NULL, owner TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_ms);";

sqlite3* OpenConnection(const std::string& path, std::string* error) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    *error = path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return db;
}

bool Exec(sqlite3* db, const char* sql, std::string* error) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
  if (error) *error = msg ? msg : "sqlite error";
  sqlite3_free(msg);
  return false;
}

size_t SizeOf(const StoredResponse& r) { return r.body.size() + r.items.size(); }

}  // namespace

std::unique_ptr<ResponseStore> ResponseStore::Open(const std::string& dir, std::string* error) {
  const std::string path = (std::filesystem::path(dir) / kFileName).string();
  sqlite3* writer = OpenConnection(path, error);
  if (writer == nullptr) return nullptr;
  if (!Exec(writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", error) ||
      !Exec(writer, kSchemaSql, error)) {
    sqlite3_close(writer);
    return nullptr;
  }
  sqlite3* reader = OpenConnection(path, error);
  if (reader == nullptr) {
    sqlite3_close(writer);
    return nullptr;
  }
  return std::unique_ptr<ResponseStore>(new ResponseStore(writer, reader));
}

ResponseStore::ResponseStore(sqlite3* writer, sqlite3* reader)
    : writer_db_(writer), reader_db_(reader) {
  writer_ = std::thread([this] { WriterLoop(); });
}

ResponseStore::~ResponseStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  sqlite3_close(writer_db_);
  sqlite3_close(reader_db_);
}

bool ResponseStore::Put(const std::string& id, const StoredResponse& r, int64_t now_ms,
                        int64_t expires_ms, std::string* error) {
  if (SizeOf(r) > kMaxRecordBytes) {
    if (error) *error = "the exchange exceeds " + std::to_string(kMaxRecordBytes) + " bytes";
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    clock_ms_ = std::max(clock_ms_, now_ms);
    auto [it, fresh] = cache_.try_emplace(id);
    if (!fresh) cache_bytes_ -= SizeOf(it->second.r);
    it->second = Entry{r, expires_ms};
    cache_bytes_ += SizeOf(r);
    if (fresh) order_.push_back(id);
    deleted_.erase(id);
    pending_.push_back(Op{true, id, it->second});
    ++queued_;
    Evict();
  }
  cv_.notify_one();
  return true;
}

void ResponseStore::Evict() {
  while (cache_bytes_ > kMaxCacheBytes && !order_.empty()) {
    auto it = cache_.find(order_.front());
    order_.pop_front();
    if (it == cache_.end()) continue;
    cache_bytes_ -= SizeOf(it->second.r);
    cache_.erase(it);
  }
}

std::optional<StoredResponse> ResponseStore::Get(const std::string& id, int64_t now_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (deleted_.contains(id)) return std::nullopt;
    if (auto it = cache_.find(id); it != cache_.end()) {
      if (it->second.expires_ms <= now_ms) return std::nullopt;
      return it->second.r;
    }
    // A write not yet in the database is in the cache (or evicted from it, then in
    // pending_): look there before reading the database.
    for (auto op = pending_.rbegin(); op != pending_.rend(); ++op) {
      if (op->id == id) {
        if (!op->put || op->entry.expires_ms <= now_ms) return std::nullopt;
        return op->entry.r;
      }
    }
  }
  std::optional<Entry> e = ReadDb(id);
  if (!e || e->expires_ms <= now_ms) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  if (deleted_.contains(id)) return std::nullopt;
  return e->r;
}

bool ResponseStore::Delete(const std::string& id, int64_t now_ms) {
  if (!Get(id, now_ms)) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(id); it != cache_.end()) {
      cache_bytes_ -= SizeOf(it->second.r);
      cache_.erase(it);
    }
    deleted_[id] = true;
    pending_.push_back(Op{false, id, {}});
    ++queued_;
  }
  cv_.notify_one();
  return true;
}

void ResponseStore::Sync() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = queued_;
  synced_cv_.wait(lock, [&] { return written_ >= target || stop_; });
}

std::optional<ResponseStore::Entry> ResponseStore::ReadDb(const std::string& id) {
  std::lock_guard<std::mutex> lock(reader_mu_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(reader_db_,
                         "SELECT expires_ms, body, items, owner FROM responses WHERE id = ?", -1,
                         &stmt, nullptr) != SQLITE_OK) {
    return std::nullopt;
  }
  sqlite3_bind_text(stmt, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  std::optional<Entry> out;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    Entry e;
    e.expires_ms = sqlite3_column_int64(stmt, 0);
    const auto text = [stmt](int col) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
      return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt, col)))
               : std::string();
    };
    e.r.body = text(1);
    e.r.items = text(2);
    e.r.owner = text(3);
    out = std::move(e);
  }
  sqlite3_finalize(stmt);
  return out;
}

void ResponseStore::WriterLoop() {
  sqlite3_stmt* put = nullptr;
  sqlite3_stmt* del = nullptr;
  sqlite3_stmt* sweep = nullptr;
  sqlite3_prepare_v2(writer_db_,
                     "INSERT OR REPLACE INTO responses (id, expires_ms, body, items, owner) "
                     "VALUES (?, ?, ?, ?, ?)",
                     -1, &put, nullptr);
  sqlite3_prepare_v2(writer_db_, "DELETE FROM responses WHERE id = ?", -1, &del, nullptr);
  sqlite3_prepare_v2(writer_db_, "DELETE FROM responses WHERE expires_ms <= ?", -1, &sweep,
                     nullptr);
  int64_t last_sweep = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait_for(lock, std::chrono::milliseconds(kSweepEveryMs),
                 [this] { return stop_ || !pending_.empty(); });
    std::vector<Op> ops;
    ops.swap(pending_);
    const bool stopping = stop_;
    lock.unlock();
    if (!ops.empty() && put != nullptr && del != nullptr) {
      Exec(writer_db_, "BEGIN IMMEDIATE", nullptr);
      for (const Op& op : ops) {
        sqlite3_stmt* s = op.put ? put : del;
        sqlite3_bind_text(s, 1, op.id.data(), static_cast<int>(op.id.size()), SQLITE_STATIC);
        if (op.put) {
          sqlite3_bind_int64(s, 2, op.entry.expires_ms);
          sqlite3_bind_text(s, 3, op.entry.r.body.data(), static_cast<int>(op.entry.r.body.size()),
                            SQLITE_STATIC);
          sqlite3_bind_text(s, 4, op.entry.r.items.data(),
                            static_cast<int>(op.entry.r.items.size()), SQLITE_STATIC);
          sqlite3_bind_text(s, 5, op.entry.r.owner.data(),
                            static_cast<int>(op.entry.r.owner.size()), SQLITE_STATIC);
        }
        sqlite3_step(s);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
      Exec(writer_db_, "COMMIT", nullptr);
    }
    lock.lock();
    const int64_t now = clock_ms_;
    lock.unlock();
    const bool sweeping = now > 0 && now - last_sweep >= kSweepEveryMs;
    if (sweep != nullptr && sweeping) {
      last_sweep = now;
      sqlite3_bind_int64(sweep, 1, now);
      sqlite3_step(sweep);
      sqlite3_reset(sweep);
    }
    lock.lock();
    written_ += ops.size();
    for (const Op& op : ops) {
      if (!op.put) deleted_.erase(op.id);
    }
    if (sweeping) {  // expired entries leave the cache too, and the eviction order forgets them
      for (auto it = cache_.begin(); it != cache_.end();) {
        if (it->second.expires_ms <= now) {
          cache_bytes_ -= SizeOf(it->second.r);
          it = cache_.erase(it);
        } else {
          ++it;
        }
      }
      std::deque<std::string> kept;
      for (std::string& id : order_) {
        if (cache_.contains(id)) kept.push_back(std::move(id));
      }
      order_.swap(kept);
    }
    synced_cv_.notify_all();
    if (stopping && pending_.empty()) break;
  }
  lock.unlock();
  sqlite3_finalize(put);
  sqlite3_finalize(del);
  sqlite3_finalize(sweep);
}

}  // namespace gkm
