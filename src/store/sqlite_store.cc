#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

namespace gkm {
namespace {

constexpr char kFileName[] = "gemini-key-manager.db";
constexpr char kLockName[] = "gemini-key-manager.lock";
constexpr char kSchemaVersion[] = "1";
constexpr int kBusyTimeoutMs = 5000;

// CREATE ... IF NOT EXISTS so that opening an existing database is the same code path as
// creating one. No STRICT tables: they would make the file unreadable to SQLite < 3.37 tools.
constexpr char kSchemaSql[] = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta(
  name TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage(
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  day TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  rate_limited INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  candidate_tokens INTEGER NOT NULL DEFAULT 0,
  thought_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(key_id, model, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS client_usage(
  client TEXT NOT NULL,
  model TEXT NOT NULL,
  day TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(client, model, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_model(
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  state TEXT NOT NULL,
  until_ms INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(key_id, model));
CREATE TABLE IF NOT EXISTS key_status(
  key_id TEXT PRIMARY KEY NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS binding(
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(kind, name));
CREATE TABLE IF NOT EXISTS cursor(
  model TEXT PRIMARY KEY NOT NULL,
  position INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS project_model(
  project TEXT NOT NULL,
  model TEXT NOT NULL,
  state TEXT NOT NULL,
  until_ms INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(project, model));
CREATE TABLE IF NOT EXISTS learned_limit(
  project TEXT NOT NULL,
  model TEXT NOT NULL,
  window TEXT NOT NULL,
  metric TEXT NOT NULL,
  value INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(project, model, window, metric));
INSERT INTO meta(name, value) VALUES('schema_version', '1') ON CONFLICT(name) DO NOTHING;
COMMIT;
)sql";

constexpr char kUsageUpsertSql[] =
    "INSERT INTO usage(key_id, model, day, requests, rate_limited, errors, prompt_tokens,"
    " candidate_tokens, thought_tokens) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT(key_id, model, day) DO UPDATE SET"
    " requests = requests + excluded.requests,"
    " rate_limited = rate_limited + excluded.rate_limited,"
    " errors = errors + excluded.errors,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " candidate_tokens = candidate_tokens + excluded.candidate_tokens,"
    " thought_tokens = thought_tokens + excluded.thought_tokens";
// Added after version 1's first release, by CREATE ... IF NOT EXISTS above: an additive
// change, so the schema version stays and an older binary ignores the table.
constexpr char kClientUsageUpsertSql[] =
    "INSERT INTO client_usage(client, model, day, requests) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(client, model, day) DO UPDATE SET requests = requests + excluded.requests";
constexpr char kStateUpsertSql[] =
    "INSERT INTO key_model(key_id, model, state, until_ms, reason) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(key_id, model) DO UPDATE SET"
    " state = excluded.state, until_ms = excluded.until_ms, reason = excluded.reason";
constexpr char kStateDeleteSql[] = "DELETE FROM key_model WHERE key_id = ?1 AND model = ?2";
constexpr char kStatusUpsertSql[] =
    "INSERT INTO key_status(key_id, status, reason) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(key_id) DO UPDATE SET status = excluded.status, reason = excluded.reason";
constexpr char kBindingUpsertSql[] =
    "INSERT INTO binding(kind, name, key_id, created_ms, expires_ms) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(kind, name) DO UPDATE SET"
    " key_id = excluded.key_id, created_ms = excluded.created_ms,"
    " expires_ms = excluded.expires_ms";
// Rows of older versions have expires_ms 0: Affinity::Restore gives them one and writes
// them back, so they are never left forever.
constexpr char kBindingExpireSql[] =
    "DELETE FROM binding WHERE expires_ms > 0 AND expires_ms <= ?1";
// Added after version 1's first release: an additive change, so the schema version stays
// and an older binary still reads and writes the table (its inserts leave the column 0).
constexpr char kBindingExpiryColumnSql[] =
    "ALTER TABLE binding ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0";
constexpr char kBindingExpiryIndexSql[] =
    "CREATE INDEX IF NOT EXISTS binding_by_expiry ON binding(expires_ms)";
constexpr char kProjectStateUpsertSql[] =
    "INSERT INTO project_model(project, model, state, until_ms, reason) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(project, model) DO UPDATE SET"
    " state = excluded.state, until_ms = excluded.until_ms, reason = excluded.reason";
constexpr char kProjectStateDeleteSql[] =
    "DELETE FROM project_model WHERE project = ?1 AND model = ?2";
constexpr char kLimitUpsertSql[] =
    "INSERT INTO learned_limit(project, model, window, metric, value, updated_ms)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(project, model, window, metric) DO UPDATE SET"
    " value = excluded.value, updated_ms = excluded.updated_ms";
constexpr char kLimitDeleteSql[] =
    "DELETE FROM learned_limit WHERE project = ?1 AND model = ?2 AND window = ?3 AND metric = ?4";
constexpr char kCursorUpsertSql[] =
    "INSERT INTO cursor(model, position) VALUES(?1, ?2)"
    " ON CONFLICT(model) DO UPDATE SET position = excluded.position";
constexpr char kMetaUpsertSql[] =
    "INSERT INTO meta(name, value) VALUES(?1, ?2)"
    " ON CONFLICT(name) DO UPDATE SET value = excluded.value";
constexpr char kUsageOfDaySql[] =
    "SELECT key_id, model, day, requests, rate_limited, errors, prompt_tokens,"
    " candidate_tokens, thought_tokens FROM usage WHERE day = ?1 ORDER BY key_id, model";

void SetError(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
}

// Owns one prepared statement; sqlite3_finalize(nullptr) is a no-op, so an empty Stmt is fine.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt& operator=(Stmt&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// `persistent` tells SQLite the statement lives long, so it takes memory from the heap rather
// than from the lookaside pool meant for short-lived ones.
int Prepare(sqlite3* db, const char* sql, bool persistent, Stmt* out, std::string* msg) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s, nullptr);
  if (rc != SQLITE_OK) {
    *msg = sqlite3_errmsg(db);
    sqlite3_finalize(s);
    return rc;
  }
  *out = Stmt(s);
  return SQLITE_OK;
}

// SQLITE_STATIC: the caller's strings outlive the step, and Run() clears the bindings before
// returning so no pointer into them is kept.
int Bind(sqlite3_stmt* s, int idx, const std::string& v) {
  return sqlite3_bind_text(s, idx, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
int Bind(sqlite3_stmt* s, int idx, int64_t v) { return sqlite3_bind_int64(s, idx, v); }

// Binds the arguments to ?1, ?2, ... and steps a statement that returns no rows. The statement
// is reset whatever happens, so that the next use starts clean. The message is taken before the
// reset, which could otherwise replace it.
template <typename... Args>
int Run(sqlite3* db, sqlite3_stmt* s, std::string* msg, const Args&... args) {
  int idx = 0;
  int rc = SQLITE_OK;
  ((rc = (rc == SQLITE_OK ? Bind(s, ++idx, args) : rc)), ...);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK) *msg = sqlite3_errmsg(db);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc;
}

std::string ColumnText(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  if (t == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(t),
                     static_cast<size_t>(sqlite3_column_bytes(s, col)));
}

// Runs a read-only query with optional text parameters, calling `row` for each result row.
int Query(sqlite3* db, const char* sql, const std::vector<std::string>& params,
          const std::function<void(sqlite3_stmt*)>& row, std::string* msg) {
  Stmt stmt;
  int rc = Prepare(db, sql, /*persistent=*/false, &stmt, msg);
  if (rc != SQLITE_OK) return rc;
  for (size_t i = 0; i < params.size(); ++i) {
    rc = Bind(stmt.get(), static_cast<int>(i + 1), params[i]);
    if (rc != SQLITE_OK) {
      *msg = sqlite3_errmsg(db);
      return rc;
    }
  }
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) row(stmt.get());
  if (rc != SQLITE_DONE) {
    *msg = sqlite3_errmsg(db);
    return rc;
  }
  return SQLITE_OK;
}

UsageDelta UsageFromRow(sqlite3_stmt* s) {
  UsageDelta u;
  u.key_id = ColumnText(s, 0);
  u.model = ColumnText(s, 1);
  u.day = ColumnText(s, 2);
  u.requests = sqlite3_column_int64(s, 3);
  u.rate_limited = sqlite3_column_int64(s, 4);
  u.errors = sqlite3_column_int64(s, 5);
  u.prompt_tokens = sqlite3_column_int64(s, 6);
  u.candidate_tokens = sqlite3_column_int64(s, 7);
  u.thought_tokens = sqlite3_column_int64(s, 8);
  return u;
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

// A garbage or damaged file surfaces as NOTADB/CORRUPT on the first read; say so plainly,
// since the raw "file is not a database" does not tell the operator what to do.
std::string OpenFailure(const std::string& path, int rc, const std::string& msg) {
  int primary = rc & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    return "state database " + path + " is not a SQLite database or is corrupted (" + msg +
           "); move it away to start with empty state";
  }
  return "cannot open state database " + path + ": " + msg;
}
// Takes the state dir's lock: an exclusive flock() on <dir>/gemini-key-manager.lock, held
// by the returned descriptor for the life of the store (the kernel drops it when the
// process ends, however it ends, so a crash leaves no stale lock). Two processes writing one
// database would each keep its own view of the pool and overwrite the other's states.
// -1 and *msg when the lock is held elsewhere or cannot be taken.
int LockStateDir(const std::string& dir, std::string* msg) {
  std::string path = (std::filesystem::path(dir) / kLockName).string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *msg = "cannot create the lock file " + path + ": " + std::strerror(errno);
    return -1;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char pid[32] = {};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : std::string();
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd);
    if (err == EWOULDBLOCK) {
      *msg = "state dir '" + dir + "' is in use by another gemini-key-manager" +
             (holder.empty() ? std::string() : " (pid " + holder + ")") +
             "; each instance needs its own --state-dir";
    } else {
      *msg = "cannot lock " + path + ": " + std::strerror(err);
    }
    return -1;
  }
  // The holder's pid, for the message above and for an operator looking at the dir.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock is what matters; a lock file that cannot say who holds it is still a lock.
  }
  return fd;
}

// The database holds the generated client token: owner-only, whatever the umask. The file
// is created here (0600) before SQLite opens it, and SQLite's unix VFS gives the -wal and
// -shm files the permissions of the database file. Files left by an older version with
// wider permissions are narrowed. False and *msg when a file cannot be made private.
bool MakePrivate(const std::string& db_path, std::string* msg) {
  // O_RDONLY: a read-only database is reported by the checks after the open, as before.
  int fd = ::open(db_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *msg = "cannot create " + db_path + ": " + std::strerror(errno);
    return false;
  }
  ::close(fd);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string p = db_path + suffix;
    struct stat st;
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_mode & 077) != 0 && ::chmod(p.c_str(), st.st_mode & 0700) != 0) {
      *msg = "cannot restrict the permissions of " + p + " to its owner: " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

// Adds the binding table's expires_ms column to a database made before it existed.
int MigrateBindingExpiry(sqlite3* db, std::string* msg) {
  bool has = false;
  int rc = Query(
      db, "PRAGMA table_info(binding)", {},
      [&has](sqlite3_stmt* s) { has = has || ColumnText(s, 1) == "expires_ms"; }, msg);
  if (rc != SQLITE_OK) return rc;
  for (const char* sql : {has ? nullptr : kBindingExpiryColumnSql, kBindingExpiryIndexSql}) {
    if (sql == nullptr) continue;
    char* errmsg = nullptr;
    rc = sqlite3_exec(db, sql, nullptr, nullptr, &errmsg);
    if (rc != SQLITE_OK) {
      *msg = errmsg ? errmsg : sqlite3_errstr(rc);
      sqlite3_free(errmsg);
      return rc;
    }
  }
  return SQLITE_OK;
}

}  // namespace

struct SqliteStore::Statements {
  Stmt begin, commit, rollback;
  Stmt usage_upsert, client_usage_upsert, state_upsert, state_delete, status_upsert,
      binding_upsert, binding_expire, cursor_upsert, project_state_upsert, project_state_delete,
      limit_upsert, limit_delete;
};

SqliteStore::SqliteStore(sqlite3* db, std::string path, std::unique_ptr<Statements> stmts,
                         int lock_fd)
    : db_(db), path_(std::move(path)), stmts_(std::move(stmts)), lock_fd_(lock_fd) {}

SqliteStore::~SqliteStore() {
  // Statements first: sqlite3_close refuses a connection that still has live statements.
  stmts_.reset();
  sqlite3_close_v2(db_);
  // The lock last, once nothing of ours writes to the database any more.
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::unique_ptr<SqliteStore> SqliteStore::Open(const std::string& dir, std::string* error) {
  auto fail = [error](std::string msg) {
    SetError(error, std::move(msg));
    return std::unique_ptr<SqliteStore>();
  };

  // An empty setting is a configuration mistake; do not quietly use the working directory.
  if (dir.empty()) return fail("state dir is empty: give a directory for the state database");
  // Check the directory ourselves: SQLite would only say "unable to open database file".
  std::error_code ec;
  auto st = std::filesystem::status(dir, ec);
  if (!std::filesystem::exists(st)) {
    return fail("state dir '" + dir + "' does not exist" +
                (ec && ec != std::errc::no_such_file_or_directory ? " (" + ec.message() + ")"
                                                                  : std::string()));
  }
  if (!std::filesystem::is_directory(st)) {
    return fail("state dir '" + dir + "' is not a directory");
  }
  // W_OK for the database, X_OK to create files in it; WAL also needs to create -wal and -shm.
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return fail("state dir '" + dir + "' is not writable: " + std::strerror(errno));
  }
  std::string msg;
  int lock_fd = LockStateDir(dir, &msg);
  if (lock_fd < 0) return fail(msg);
  struct LockCloser {
    int& fd;
    ~LockCloser() {
      if (fd >= 0) ::close(fd);
    }
  } lock_closer{lock_fd};  // released again if the open fails below

  std::string path = (std::filesystem::path(dir) / kFileName).string();
  if (!MakePrivate(path, &msg)) return fail(msg);
  sqlite3* raw = nullptr;
  // NOMUTEX: one thread owns the store, so SQLite's per-connection mutex is pure overhead.
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // even a failed open may allocate a handle that must be closed
  if (rc != SQLITE_OK) {
    return fail(OpenFailure(path, rc, raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);

  // journal_mode is the first statement that reads the file, so a garbage file fails here.
  std::string mode;
  rc = Query(
      db.get(), "PRAGMA journal_mode=WAL", {},
      [&mode](sqlite3_stmt* s) { mode = ColumnText(s, 0); }, &msg);
  if (rc != SQLITE_OK) return fail(OpenFailure(path, rc, msg));
  if (mode != "wal") {
    // Without WAL a crash-safe flush every second would block readers; refuse rather than
    // run in a mode the rest of the program does not expect.
    return fail("state database " + path + " could not be switched to WAL mode (got '" + mode +
                "'); is the state dir on a network or special file system?");
  }
  if (sqlite3_db_readonly(db.get(), "main") == 1) {
    return fail("state database " + path + " is read-only");
  }
  // NORMAL is crash-safe in WAL mode (a crash can lose the last commits, never corrupt);
  // foreign keys stay off because the tables reference key ids of a key file, not each other.
  char* errmsg = nullptr;
  rc = sqlite3_exec(db.get(), "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;", nullptr,
                    nullptr, &errmsg);
  if (rc != SQLITE_OK) {
    msg = errmsg ? errmsg : sqlite3_errstr(rc);
    sqlite3_free(errmsg);
    return fail(OpenFailure(path, rc, msg));
  }
  rc = sqlite3_exec(db.get(), kSchemaSql, nullptr, nullptr, &errmsg);
  if (rc != SQLITE_OK) {
    msg = errmsg ? errmsg : sqlite3_errstr(rc);
    sqlite3_free(errmsg);
    if (!sqlite3_get_autocommit(db.get())) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return fail(OpenFailure(path, rc, "creating the schema: " + msg));
  }
  std::string version;
  rc = Query(
      db.get(), "SELECT value FROM meta WHERE name = 'schema_version'", {},
      [&version](sqlite3_stmt* s) { version = ColumnText(s, 0); }, &msg);
  if (rc != SQLITE_OK) return fail(OpenFailure(path, rc, msg));
  if (version != kSchemaVersion) {
    return fail("state database " + path + " has schema version '" + version +
                "', this program knows version " + kSchemaVersion);
  }

  rc = MigrateBindingExpiry(db.get(), &msg);
  if (rc != SQLITE_OK) return fail(OpenFailure(path, rc, "adding binding expiry: " + msg));
  // Write() runs every second with up to tens of thousands of rows: prepare its statements
  // once. This also checks that existing tables have the columns this version expects.
  auto stmts = std::make_unique<Statements>();
  const std::pair<const char*, Stmt*> to_prepare[] = {
      {"BEGIN IMMEDIATE", &stmts->begin},
      {"COMMIT", &stmts->commit},
      {"ROLLBACK", &stmts->rollback},
      {kUsageUpsertSql, &stmts->usage_upsert},
      {kClientUsageUpsertSql, &stmts->client_usage_upsert},
      {kStateUpsertSql, &stmts->state_upsert},
      {kStateDeleteSql, &stmts->state_delete},
      {kStatusUpsertSql, &stmts->status_upsert},
      {kBindingUpsertSql, &stmts->binding_upsert},
      {kBindingExpireSql, &stmts->binding_expire},
      {kCursorUpsertSql, &stmts->cursor_upsert},
      {kProjectStateUpsertSql, &stmts->project_state_upsert},
      {kProjectStateDeleteSql, &stmts->project_state_delete},
      {kLimitUpsertSql, &stmts->limit_upsert},
      {kLimitDeleteSql, &stmts->limit_delete},
  };
  for (const auto& [sql, out] : to_prepare) {
    rc = Prepare(db.get(), sql, /*persistent=*/true, out, &msg);
    if (rc != SQLITE_OK) return fail(OpenFailure(path, rc, msg));
  }
  int fd = std::exchange(lock_fd, -1);
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(db.release(), std::move(path), std::move(stmts), fd));
}

bool SqliteStore::Write(const Batch& batch, std::string* error) {
  if (batch.empty()) return true;
  std::string msg;
  // IMMEDIATE takes the write lock up front, so a busy database waits (busy_timeout) at the
  // start instead of failing halfway through the batch.
  if (Run(db_, stmts_->begin.get(), &msg) != SQLITE_OK) {
    SetError(error, "state database " + path_ + ": cannot begin a write: " + msg);
    return false;
  }
  const char* what = "";
  bool ok = true;
  auto check = [&](int rc, const char* table) {
    if (rc != SQLITE_OK) {
      ok = false;
      what = table;
    }
    return ok;
  };
  for (const UsageDelta& u : batch.usage) {
    if (!check(Run(db_, stmts_->usage_upsert.get(), &msg, u.key_id, u.model, u.day, u.requests,
                   u.rate_limited, u.errors, u.prompt_tokens, u.candidate_tokens, u.thought_tokens),
               "usage")) {
      break;
    }
  }
  for (size_t i = 0; ok && i < batch.client_usage.size(); ++i) {
    const ClientUsageDelta& u = batch.client_usage[i];
    check(Run(db_, stmts_->client_usage_upsert.get(), &msg, u.client, u.model, u.day, u.requests),
          "client_usage");
  }
  for (size_t i = 0; ok && i < batch.states.size(); ++i) {
    const KeyModelState& s = batch.states[i];
    // "ok" is the absence of a state: no row means the key is usable for that model.
    check(s.state == "ok" ? Run(db_, stmts_->state_delete.get(), &msg, s.key_id, s.model)
                          : Run(db_, stmts_->state_upsert.get(), &msg, s.key_id, s.model, s.state,
                                s.until_ms, s.reason),
          "key_model");
  }
  for (size_t i = 0; ok && i < batch.statuses.size(); ++i) {
    const KeyStatusRow& s = batch.statuses[i];
    check(Run(db_, stmts_->status_upsert.get(), &msg, s.key_id, s.status, s.reason), "key_status");
  }
  for (size_t i = 0; ok && i < batch.bindings.size(); ++i) {
    const Binding& b = batch.bindings[i];
    check(Run(db_, stmts_->binding_upsert.get(), &msg, b.kind, b.name, b.key_id, b.created_ms,
              b.expires_ms),
          "binding");
  }
  if (ok && batch.bindings_expired_by_ms > 0) {
    check(Run(db_, stmts_->binding_expire.get(), &msg, batch.bindings_expired_by_ms), "binding");
  }
  for (size_t i = 0; ok && i < batch.cursors.size(); ++i) {
    const auto& [model, position] = batch.cursors[i];
    check(Run(db_, stmts_->cursor_upsert.get(), &msg, model, position), "cursor");
  }
  for (size_t i = 0; ok && i < batch.project_states.size(); ++i) {
    const ProjectModelState& s = batch.project_states[i];
    check(s.state == "ok" ? Run(db_, stmts_->project_state_delete.get(), &msg, s.project, s.model)
                          : Run(db_, stmts_->project_state_upsert.get(), &msg, s.project, s.model,
                                s.state, s.until_ms, s.reason),
          "project_model");
  }
  for (size_t i = 0; ok && i < batch.limits.size(); ++i) {
    const LearnedLimit& l = batch.limits[i];
    // A negative value is a limit forgotten (admin reset).
    check(l.value < 0
              ? Run(db_, stmts_->limit_delete.get(), &msg, l.project, l.model, l.window, l.metric)
              : Run(db_, stmts_->limit_upsert.get(), &msg, l.project, l.model, l.window, l.metric,
                    l.value, l.updated_ms),
          "learned_limit");
  }
  if (ok) check(Run(db_, stmts_->commit.get(), &msg), "commit");
  if (ok) return true;

  // Some errors (I/O, full disk, out of memory) already rolled back; a failed COMMIT (busy)
  // leaves the transaction open. Roll back only what is still open.
  if (!sqlite3_get_autocommit(db_)) {
    std::string ignored;
    Run(db_, stmts_->rollback.get(), &ignored);
  }
  SetError(error,
           "state database " + path_ + ": write failed at " + what + ", nothing written: " + msg);
  return false;
}

Loaded SqliteStore::Load(const std::string& day, std::string* error) {
  Loaded out;
  std::string msg;
  int rc = Query(
      db_, kUsageOfDaySql, {day}, [&out](sqlite3_stmt* s) { out.usage.push_back(UsageFromRow(s)); },
      &msg);
  if (rc == SQLITE_OK) {
    rc = Query(
        db_, "SELECT client, model, day, requests FROM client_usage WHERE day = ?1", {day},
        [&out](sqlite3_stmt* s) {
          out.client_usage.push_back(
              {ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2), sqlite3_column_int64(s, 3)});
        },
        &msg);
  }
  if (rc == SQLITE_OK) {
    rc = Query(db_, "SELECT key_id, model, state, until_ms, reason FROM key_model", {},
               [&out](sqlite3_stmt* s) {
                 out.states.push_back({ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2),
                                       sqlite3_column_int64(s, 3), ColumnText(s, 4)});
               },
               &msg);
  }
  if (rc == SQLITE_OK) {
    rc = Query(
        db_, "SELECT key_id, status, reason FROM key_status", {},
        [&out](sqlite3_stmt* s) {
          out.statuses.push_back({ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2)});
        },
        &msg);
  }
  if (rc == SQLITE_OK) {
    rc = Query(
        db_, "SELECT kind, name, key_id, created_ms, expires_ms FROM binding", {},
        [&out](sqlite3_stmt* s) {
          out.bindings.push_back({ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2),
                                  sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4)});
        },
        &msg);
  }
  if (rc == SQLITE_OK) {
    rc = Query(
        db_, "SELECT model, position FROM cursor", {},
        [&out](sqlite3_stmt* s) {
          out.cursors.emplace_back(ColumnText(s, 0), sqlite3_column_int64(s, 1));
        },
        &msg);
  }
  if (rc == SQLITE_OK) {
    rc = Query(
        db_, "SELECT project, model, state, until_ms, reason FROM project_model", {},
        [&out](sqlite3_stmt* s) {
          out.project_states.push_back({ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2),
                                        sqlite3_column_int64(s, 3), ColumnText(s, 4)});
        },
        &msg);
  }
  if (rc == SQLITE_OK) {
    rc = Query(
        db_, "SELECT project, model, window, metric, value, updated_ms FROM learned_limit", {},
        [&out](sqlite3_stmt* s) {
          out.limits.push_back({ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2),
                                ColumnText(s, 3), sqlite3_column_int64(s, 4),
                                sqlite3_column_int64(s, 5)});
        },
        &msg);
  }
  if (rc != SQLITE_OK) SetError(error, "state database " + path_ + ": load failed: " + msg);
  return out;
}

std::vector<UsageDelta> SqliteStore::UsageOf(const std::string& day, std::string* error) {
  std::vector<UsageDelta> out;
  std::string msg;
  int rc = Query(
      db_, kUsageOfDaySql, {day}, [&out](sqlite3_stmt* s) { out.push_back(UsageFromRow(s)); },
      &msg);
  if (rc != SQLITE_OK) SetError(error, "state database " + path_ + ": read failed: " + msg);
  return out;
}

std::optional<std::string> SqliteStore::GetMeta(const std::string& name, std::string* error) {
  std::optional<std::string> value;
  std::string msg;
  int rc = Query(
      db_, "SELECT value FROM meta WHERE name = ?1", {name},
      [&value](sqlite3_stmt* s) { value = ColumnText(s, 0); }, &msg);
  if (rc != SQLITE_OK) {
    SetError(error, "state database " + path_ + ": read failed: " + msg);
    return std::nullopt;
  }
  return value;
}

bool SqliteStore::SetMeta(const std::string& name, const std::string& value, std::string* error) {
  Stmt stmt;
  std::string msg;
  int rc = Prepare(db_, kMetaUpsertSql, /*persistent=*/false, &stmt, &msg);
  if (rc == SQLITE_OK) rc = Run(db_, stmt.get(), &msg, name, value);
  if (rc != SQLITE_OK) {
    SetError(error, "state database " + path_ + ": cannot set meta " + name + ": " + msg);
    return false;
  }
  return true;
}

}  // namespace gkm
