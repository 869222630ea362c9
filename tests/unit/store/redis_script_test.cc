// The apply script and RedisSync against a real redis-server (started here on a free
// loopback port, with a password, db 3): a resent batch counts once, the later deadline wins,
// an "ok" clears only on a reset, and two instances see each other's changes and counts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "store/redis_sync.h"

namespace gkm {
namespace {

using namespace std::chrono_literals;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

class RedisServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gkm-redis-unit-" + std::to_string(::getpid()) + "-" + std::to_string(FreePort()));
    std::filesystem::create_directories(dir_);
    port_ = FreePort();
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::string port = std::to_string(port_), dir = dir_.string();
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
               "--requirepass", "pw", "--save", "", "--appendonly", "no", "--dir", dir.c_str(),
               "--loglevel", "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    url_.host = "127.0.0.1";
    url_.port = port_;
    url_.password = "pw";
    url_.db = 3;
    std::string error;
    for (int i = 0; i < 200 && !link_; ++i) {
      link_ = RedisLink::Open(url_, 1000ms, &error);
      if (!link_) std::this_thread::sleep_for(25ms);
    }
    ASSERT_TRUE(link_) << "redis-server (scripts/install-deps.sh --test) did not start: " << error;
    Reply r = link_->Command({"SCRIPT", "LOAD", kApplyScript});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << (r ? ErrorOf(r.get()) : link_->error());
    sha_ = std::string(r->str, r->len);
  }
  void TearDown() override {
    link_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  int64_t Apply(uint64_t seq, const Batch& b, int64_t now_ms) {
    Reply r = link_->Command({"EVALSHA", sha_, "0", "t:", "inst-a", std::to_string(seq),
                              std::to_string(now_ms), "3600", EncodeBatch(b)});
    EXPECT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << (r ? ErrorOf(r.get()) : link_->error());
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  }
  std::string Get(const std::vector<std::string>& cmd) {
    Reply r = link_->Command(cmd);
    return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "";
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  RedisUrl url_;
  std::unique_ptr<RedisLink> link_;
  std::string sha_;
};

const int64_t kNow = 1795780800000;

TEST_F(RedisServer, AResentBatchCountsOnce) {
  Batch b;
  b.usage.push_back({"k1", "m", "2026-11-27", 3, 1, 0, 10, 0, 0});
  EXPECT_EQ(Apply(1, b, kNow), 1);
  EXPECT_EQ(Apply(1, b, kNow), 0);  // the answer was lost: sent again with its number
  EXPECT_EQ(Get({"HGET", "t:req:2026-11-27", "k1|m"}), "3");
  EXPECT_EQ(Get({"HGET", "t:use:2026-11-27", "k1|m|q"}), "1");
  EXPECT_EQ(Get({"HGET", "t:use:2026-11-27", "k1|m|p"}), "10");
  EXPECT_EQ(Apply(2, b, kNow), 1);
  EXPECT_EQ(Get({"HGET", "t:req:2026-11-27", "k1|m"}), "6");
  Reply ttl = link_->Command({"TTL", "t:req:2026-11-27"});
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 3000);  // expires after the retention period
}

TEST_F(RedisServer, LaterDeadlineWinsAndOkClearsOnlyOnAReset) {
  const int64_t now = ToUnixMs(NowMs());
  Batch b;
  b.states.push_back({"k1", "m", "exhausted", now + 600000, "per-day quota"});
  Apply(1, b, now);
  b.states[0] = {"k1", "m", "cooling", now + 5000, "per-minute"};
  Apply(2, b, now);
  EXPECT_EQ(Get({"GET", "t:km:k1|m"}), std::to_string(now + 600000) + "|exhausted|per-day quota");
  Reply pttl = link_->Command({"PTTL", "t:km:k1|m"});
  ASSERT_TRUE(pttl);
  EXPECT_GT(pttl->integer, 590000);  // the key ends with its deadline
  EXPECT_LE(pttl->integer, 600000);
  b.states[0] = {"k1", "m", "ok", 0, ""};  // a deadline that passed elsewhere
  Apply(3, b, now);
  EXPECT_NE(Get({"GET", "t:km:k1|m"}), "");
  b.statuses.push_back({"k1", "active", ""});  // an admin reset
  Apply(4, b, now);
  EXPECT_EQ(Get({"GET", "t:km:k1|m"}), "");
  Batch old;
  old.states.push_back({"k2", "m", "cooling", now - 1, "over"});
  Apply(5, old, now);
  EXPECT_EQ(Get({"GET", "t:km:k2|m"}), "");
}

TEST_F(RedisServer, OpenRefusesAWrongPasswordAndAnUnknownDb) {
  std::string error;
  RedisUrl bad = url_;
  bad.password = "wrong";
  EXPECT_FALSE(RedisLink::Open(bad, 1000ms, &error));
  EXPECT_NE(error.find("authentication refused"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong"), std::string::npos) << error;
  bad = url_;
  bad.db = 100000;
  EXPECT_FALSE(RedisLink::Open(bad, 1000ms, &error));
  EXPECT_NE(error.find("selecting the db"), std::string::npos) << error;
}

// What one instance's sinks received.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Loaded> applied;
  std::vector<UsageDelta> counts;
  RedisSync::Sink Sink() {
    RedisSync::Sink s;
    s.apply = [this](const Loaded& l) {
      std::lock_guard lock(mu);
      applied.push_back(l);
      cv.notify_all();
    };
    s.counts = [this](const std::vector<UsageDelta>& c) {
      std::lock_guard lock(mu);
      counts = c;
      cv.notify_all();
    };
    s.today = [] { return std::string("2026-11-27"); };
    return s;
  }
  template <class Pred>
  bool WaitFor(Pred p) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 3s, p);
  }
};

TEST_F(RedisServer, TwoInstancesSeeEachOthersChangesAndCounts) {
  RedisOptions o;
  o.url = url_;
  o.prefix = "two:";
  Seen sa, sb;
  RedisSync a(o, sa.Sink()), b(o, sb.Sink());
  std::string error;
  ASSERT_TRUE(a.Connect(&error)) << error;
  ASSERT_TRUE(b.Connect(&error)) << error;
  a.Start();
  b.Start();
  std::this_thread::sleep_for(300ms);  // both subscribed
  const int64_t until = ToUnixMs(NowMs()) + 600000;
  Batch x;
  x.states.push_back({"k1", "m", "exhausted", until, "per-day quota"});
  x.usage.push_back({"k1", "m", "2026-11-27", 5, 0, 0, 0, 0, 0});
  a.Enqueue(x);
  EXPECT_TRUE(sb.WaitFor([&] {
    for (const Loaded& l : sb.applied) {
      if (l.states.size() == 1 && l.states[0].key_id == "k1" && l.states[0].until_ms == until) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_TRUE(sb.WaitFor([&] { return sb.counts.size() == 1 && sb.counts[0].requests == 5; }));
  // A's own requests are not "others" for A.
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(sa.mu);
    for (const UsageDelta& u : sa.counts) EXPECT_EQ(u.requests, 0);
    for (const Loaded& l : sa.applied) {
      for (const auto& s : l.states) EXPECT_NE(s.until_ms, until) << "no echo of its own change";
    }
  }
  EXPECT_TRUE(a.up());
  a.Stop();
  b.Stop();
}

TEST(RedisFields, SharedDayFactsFromTheCounterHashes) {
  std::vector<UsageFact> f =
      ParseSharedDay("2026-03-10", {{"k1|flash", 5}, {"k2|pro", 2}, {"bad", 9}},
                     {{"k1|flash|q", 1},
                      {"k1|flash|p", 40},
                      {"k1|flash|t", 3},
                      {"k3|pro|e", 1},
                      {"k1|flash|z", 9}},
                     {{"ci|flash", 4}, {"ci|-", 1}});
  std::map<std::string, UsageFact> by;
  for (const UsageFact& x : f) by[x.key_id + "/" + x.client + "/" + x.model] = x;
  ASSERT_EQ(by.size(), 5u);
  EXPECT_EQ(by["k1//flash"].metrics, (std::array<int64_t, 6>{5, 1, 0, 40, 0, 3}));
  EXPECT_EQ(by["k1//flash"].day, "2026-03-10");
  EXPECT_EQ(by["k2//pro"].metrics[0], 2);
  EXPECT_EQ(by["k3//pro"].metrics[2], 1);
  EXPECT_EQ(by["/ci/flash"].metrics[0], 4);
  EXPECT_EQ(by["/ci/-"].metrics[0], 1);
}

TEST(RedisFields, OthersMinutesLessThisInstancesOwn) {
  std::unordered_map<std::string, int64_t> own = {{"team|a|m|r", 2}};
  std::vector<MinuteCount> c = OthersMinutes(
      7, {{"team|a|m|r", 5}, {"team|a|m|t", 900}, {"b|m|r", 1}, {"junk", 3}, {"x|m|q", 1}}, &own);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].project, "b");
  EXPECT_EQ(c[0].requests, 1);
  EXPECT_EQ(c[1].project, "team|a") << "a project name may hold '|'";
  EXPECT_EQ(c[1].model, "m");
  EXPECT_EQ(c[1].minute, 7);
  EXPECT_EQ(c[1].requests, 3);
  EXPECT_EQ(c[1].tokens, 900);
}

TEST(RedisFields, OthersClientMinuteWeighsThePreviousMinute) {
  std::map<std::string, int64_t> own_cur = {{"ci", 1}};
  std::map<std::string, int64_t> o =
      OthersClientMinute({{"ci", 4}}, {{"ci", 60}, {"bob", 6}}, &own_cur, nullptr, 45000);
  EXPECT_EQ(o["ci"], 3 + 15) << "a quarter of the previous minute is still in the window";
  EXPECT_EQ(o["bob"], 2) << "rounded up";
  o = OthersClientMinute({{"ci", 4}}, {}, &own_cur, nullptr, 0);
  EXPECT_EQ(o["ci"], 3);
}

}  // namespace
}  // namespace gkm
