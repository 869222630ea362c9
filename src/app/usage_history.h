// HistoryReader: answers GET /admin/usage (SPEC 3.9) off the I/O threads.
//
// It owns one thread and, on it, a read-only connection to the state database
// (store/usage_reader.h), opened at the first query and again after a read error. Queries
// wait their turn on that thread; an I/O thread only waits for the answer. An answer holds
// at most `max_rows` rows: a larger one is refused (too_many) rather than built in memory.
//
// With shared state (SPEC 6, SetSharedToday), the rows of the current quota day come from
// Redis's counters (every instance's usage), earlier days from this instance's database; when
// Redis cannot be read, today's rows are this instance's (and the log says why).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/usage_query.h"
#include "proxy/exchange.h"
#include "store/usage_reader.h"

namespace gkm {

class HistoryReader {
 public:
  static constexpr size_t kMaxRows = 500000;

  explicit HistoryReader(std::string state_dir, size_t max_rows = kMaxRows);
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // Today's rows from elsewhere (called on the reader's thread): `today` names the current
  // quota day, `read` gives that day's facts (false and *error when it cannot). Before any
  // query.
  using SharedRead =
      std::function<bool(const std::string& day, std::vector<UsageFact>*, std::string* error)>;
  void SetSharedToday(std::function<std::string()> today, SharedRead read) {
    today_ = std::move(today);
    shared_read_ = std::move(read);
  }

  // The rows of `q`; call from any thread's coroutine, the answer comes back on its executor.
  boost::asio::awaitable<UsageAnswer> Read(UsageQuery q);

 private:
  UsageAnswer ReadHere(const UsageQuery& q);

  std::string dir_;
  size_t max_rows_;
  boost::asio::thread_pool thread_{1};
  std::unique_ptr<UsageReader> reader_;  // used on thread_ only
  std::function<std::string()> today_;
  SharedRead shared_read_;
};

}  // namespace gkm
