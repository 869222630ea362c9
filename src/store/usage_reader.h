// UsageReader: reads usage history (common/usage_query.h) from the state database on a
// read-only connection of its own (SPEC 3.9 GET /admin/usage, SPEC 9 `usage`).
//
// WAL mode lets it read while the proxy's flusher writes: it neither takes the state dir's
// lock nor writes to the database, so the `usage` subcommand works whether the proxy runs
// or not. Not thread-safe: one thread uses a reader (the server keeps one on a thread of
// its own, so no I/O thread waits on SQLite).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/usage_query.h"

struct sqlite3;

namespace gkm {

class UsageReader {
 public:
  // Opens <dir>/gemini-key-manager.db read-only. nullptr and *error when it does not exist
  // or cannot be read.
  static std::unique_ptr<UsageReader> Open(const std::string& dir, std::string* error);
  ~UsageReader();
  UsageReader(const UsageReader&) = delete;
  UsageReader& operator=(const UsageReader&) = delete;

  // The rows answering `q`, sorted by its dimensions. False and *error on a read error, or
  // when there are more than `max_rows` rows (then *too_many is set, when given).
  bool Read(const UsageQuery& q, size_t max_rows, std::vector<UsageRow>* rows, std::string* error,
            bool* too_many = nullptr);

 private:
  UsageReader(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace gkm
