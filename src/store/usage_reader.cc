#include "store/usage_reader.h"

#include <sqlite3.h>

#include <filesystem>

namespace gkm {
namespace {

constexpr char kFileName[] = "gemini-key-manager.db";

// The SQL of a query. Column names come from a fixed set (UsageDimColumn), never from the
// request; the days are bound as parameters.
std::string SqlOf(const UsageQuery& q) {
  std::string cols;
  for (UsageDim d : q.group_by) {
    if (!cols.empty()) cols += ", ";
    cols += UsageDimColumn(d);
  }
  std::string sql = "SELECT " + cols;
  if (q.clients()) {
    sql += ", SUM(requests) FROM client_usage";
  } else {
    for (std::string_view m : kUsageMetrics) sql += ", SUM(" + std::string(m) + ")";
    sql += " FROM usage";
  }
  sql += " WHERE day BETWEEN ?1 AND ?2 GROUP BY " + cols + " ORDER BY " + cols;
  return sql;
}

}  // namespace

UsageReader::~UsageReader() { sqlite3_close_v2(db_); }

std::unique_ptr<UsageReader> UsageReader::Open(const std::string& dir, std::string* error) {
  std::string path = (std::filesystem::path(dir) / kFileName).string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    *error = "no state database at " + path + " (is --state-dir right?)";
    return nullptr;
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    *error = "cannot open state database " + path + ": " +
             (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<UsageReader>(new UsageReader(db, std::move(path)));
}

bool UsageReader::Read(const UsageQuery& q, size_t max_rows, std::vector<UsageRow>* rows,
                       std::string* error, bool* too_many) {
  rows->clear();
  if (too_many) *too_many = false;
  const std::string sql = SqlOf(q);
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    // A database from before per-client usage was kept has no such table: no rows.
    if (q.clients() && msg.find("no such table") != std::string::npos) return true;
    *error = "state database " + path_ + ": " + msg;
    return false;
  }
  sqlite3_bind_text(raw, 1, q.from.data(), static_cast<int>(q.from.size()), SQLITE_STATIC);
  sqlite3_bind_text(raw, 2, q.to.data(), static_cast<int>(q.to.size()), SQLITE_STATIC);
  const int dims = static_cast<int>(q.group_by.size());
  const int metrics = static_cast<int>(q.metric_count());
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    if (rows->size() >= max_rows) {
      if (too_many) *too_many = true;
      *error = "more than " + std::to_string(max_rows) +
               " rows: narrow from/to or group by fewer dimensions";
      rows->clear();
      return false;
    }
    UsageRow r;
    r.dims.reserve(static_cast<size_t>(dims));
    for (int i = 0; i < dims; ++i) {
      const unsigned char* t = sqlite3_column_text(raw, i);
      r.dims.emplace_back(t ? reinterpret_cast<const char*>(t) : "",
                          static_cast<size_t>(sqlite3_column_bytes(raw, i)));
    }
    for (int m = 0; m < metrics; ++m) {
      r.metrics[static_cast<size_t>(m)] = sqlite3_column_int64(raw, dims + m);
    }
    rows->push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) {
    *error = "state database " + path_ + ": read failed: " + sqlite3_errmsg(db_);
    rows->clear();
    return false;
  }
  return true;
}

}  // namespace gkm
