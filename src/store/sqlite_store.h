// SqliteStore: the proxy's durable state in one SQLite database (WAL mode) (SPEC 5).
//
// What it keeps, by key id (never a real key):
//   usage      per key id, model, quota day: requests, 429s, errors, token counts
//   client_usage  per named client (SPEC 2.3), model, quota day: requests admitted
//   key_model  per key id and model: state (cooling | exhausted) and its deadline
//   key_status per key id: active | invalid, with the reason
//   binding    upload sessions, files and caches -> the key id that created them, and when
//              Google drops the resource (expired rows are deleted, Batch::bindings_expired_by_ms)
//   cursor     the round-robin position per model
//   meta       small named values (generated client token, key_usage.txt import marker)
// Write() applies one Batch in one transaction; usage rows add up (n = n + excluded.n),
// states and bindings replace. Not thread-safe: one thread (the store's flusher) owns it.
// Errors are returned as values; the database is never left half-written (transactions).
// One process per state dir: Open() takes an exclusive lock on it, held until destruction.
// The database (it holds the generated client token) and its -wal/-shm are 0600.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/state_records.h"

struct sqlite3;

namespace gkm {

class SqliteStore {
 public:
  // Locks <dir> (gemini-key-manager.lock), opens (creating if needed, mode 0600)
  // <dir>/gemini-key-manager.db, sets WAL mode and synchronous=NORMAL, and creates the
  // schema. nullptr and *error on failure, among them a dir another process has locked.
  static std::unique_ptr<SqliteStore> Open(const std::string& dir, std::string* error);
  ~SqliteStore();
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // One transaction. Returns false and sets *error when it failed (nothing was written).
  bool Write(const Batch& batch, std::string* error);
  // Usage rows of `day`, all states, statuses, bindings and cursors. On a read error the
  // result holds what was read before it and *error (when given) says what failed.
  Loaded Load(const std::string& day, std::string* error = nullptr);
  // Usage of any day (history), for tests and tools.
  std::vector<UsageDelta> UsageOf(const std::string& day, std::string* error = nullptr);

  // nullopt when the name is not set, or on a read error (then *error, when given, is set).
  std::optional<std::string> GetMeta(const std::string& name, std::string* error = nullptr);
  bool SetMeta(const std::string& name, const std::string& value, std::string* error);

  const std::string& path() const { return path_; }

 private:
  struct Statements;  // Write()'s prepared statements, kept for the life of the connection.

  SqliteStore(sqlite3* db, std::string path, std::unique_ptr<Statements> stmts, int lock_fd);
  sqlite3* db_;
  std::string path_;
  std::unique_ptr<Statements> stmts_;
  int lock_fd_;  // holds the state dir's flock()
};

}  // namespace gkm
