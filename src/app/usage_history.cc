#include "app/usage_history.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gkm {

namespace asio = boost::asio;

HistoryReader::HistoryReader(std::string state_dir, size_t max_rows)
    : dir_(std::move(state_dir)), max_rows_(max_rows) {}

HistoryReader::~HistoryReader() {
  thread_.stop();
  thread_.join();
  reader_.reset();
}

UsageAnswer HistoryReader::ReadHere(const UsageQuery& q) {
  UsageAnswer a;
  if (!reader_) reader_ = UsageReader::Open(dir_, &a.error);
  if (!reader_) return a;
  std::vector<UsageFact> shared;
  const std::string today = shared_read_ ? today_() : std::string();
  bool merge = false;
  if (shared_read_ && q.from <= today && today <= q.to) {
    std::string error;
    merge = shared_read_(today, &shared, &error);
    if (!merge) spdlog::warn("usage history: {}; today's rows are this instance's", error);
  }
  if (!reader_->Read(merge ? WithDay(q) : q, max_rows_, &a.rows, &a.error, &a.too_many)) {
    if (!a.too_many) {
      spdlog::error("usage history: {}", a.error);
      reader_.reset();  // opened afresh by the next query
    }
    return a;
  }
  if (merge) {
    a.rows = MergeUsageRows(SplitOutDay(q, std::move(a.rows), today), GroupUsage(q, shared));
    if (a.rows.size() > max_rows_) {
      a.rows.clear();
      a.too_many = true;
      a.error = "more than " + std::to_string(max_rows_) + " rows";
    }
  }
  return a;
}

asio::awaitable<UsageAnswer> HistoryReader::Read(UsageQuery q) {
  return asio::co_spawn(
      thread_,
      [this, q = std::move(q)]() -> asio::awaitable<UsageAnswer> { co_return ReadHere(q); },
      asio::use_awaitable);
}

}  // namespace gkm
