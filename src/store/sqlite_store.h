// SqliteStore: the proxy's durable state in one SQLite database (WAL mode) (SPEC 5).
//
// What it keeps, by key id (never a real key):
//   usage      per key id, model, quota day: requests, 429s, errors, token counts
//   key_model  per key id and model: state (cooling | exhausted) and its deadline
//   key_status per key id: active | invalid, with the reason
//   binding    upload sessions, files and caches -> the key id that created them
//   cursor     the round-robin position per model
//   meta       small named values (generated client token, key_usage.txt import marker)
// Write() applies one Batch in one transaction; usage rows add up (n = n + excluded.n),
// states and bindings replace. Not thread-safe: one thread (the store's flusher) owns it.
// Errors are returned as values; the database is never left half-written (transactions).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace gkm {

struct UsageDelta {
  std::string key_id;
  std::string model;
  std::string day;  // "YYYY-MM-DD"
  int64_t requests = 0;
  int64_t rate_limited = 0;  // 429s
  int64_t errors = 0;        // other failed attempts
  int64_t prompt_tokens = 0;
  int64_t candidate_tokens = 0;
  int64_t thought_tokens = 0;
};

struct KeyModelState {
  std::string key_id;
  std::string model;
  std::string state;  // "cooling" | "exhausted" | "ok" ("ok" deletes the row)
  int64_t until_ms = 0;
  std::string reason;
};

struct KeyStatusRow {
  std::string key_id;
  std::string status;  // "active" | "invalid"
  std::string reason;
};

struct Binding {
  std::string kind;  // "upload" | "file" | "cache"
  std::string name;  // upload id, "files/abc", "cachedContents/xyz"
  std::string key_id;
  int64_t created_ms = 0;
};

struct Batch {
  std::vector<UsageDelta> usage;
  std::vector<KeyModelState> states;
  std::vector<KeyStatusRow> statuses;
  std::vector<Binding> bindings;
  std::vector<std::pair<std::string, int64_t>> cursors;  // model -> position
  bool empty() const {
    return usage.empty() && states.empty() && statuses.empty() && bindings.empty() &&
           cursors.empty();
  }
};

// What the proxy needs back at start.
struct Loaded {
  std::vector<UsageDelta> usage;  // the rows of the requested day only
  std::vector<KeyModelState> states;
  std::vector<KeyStatusRow> statuses;
  std::vector<Binding> bindings;
  std::vector<std::pair<std::string, int64_t>> cursors;
};

class SqliteStore {
 public:
  // Opens (creating if needed) <dir>/gemini-key-manager.db, sets WAL mode and
  // synchronous=NORMAL, and creates the schema. nullptr and *error on failure.
  static std::unique_ptr<SqliteStore> Open(const std::string& dir, std::string* error);
  ~SqliteStore();
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // One transaction. Returns false and sets *error when it failed (nothing was written).
  bool Write(const Batch& batch, std::string* error);
  // Usage rows of `day`, all states, statuses, bindings and cursors.
  Loaded Load(const std::string& day);
  // Usage of any day (history), for tests and tools.
  std::vector<UsageDelta> UsageOf(const std::string& day);

  std::optional<std::string> GetMeta(const std::string& name);
  bool SetMeta(const std::string& name, const std::string& value, std::string* error);

  const std::string& path() const { return path_; }

 private:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace gkm
