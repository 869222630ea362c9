#include "upstream/fetch.h"

#include <gtest/gtest.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace gkm {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool Private(const char* a) { return IsPrivateAddress(asio::ip::make_address(a)); }

// One row per range: an address inside it that must be refused (and, where the range has a
// public neighbour, one just outside it that must not).
TEST(Fetch, PrivateAndSpecialAddressesAreRefused) {
  struct Row {
    const char* range;
    const char* inside;
    const char* outside;  // nullptr: no close public neighbour worth testing
  };
  const Row rows[] = {
      {"0.0.0.0/8 this network", "0.1.2.3", "1.0.0.1"},
      {"10.0.0.0/8", "10.1.2.3", "11.0.0.1"},
      {"100.64.0.0/10 CGNAT", "100.127.255.254", "100.128.0.1"},
      {"127.0.0.0/8 loopback", "127.8.9.10", "128.0.0.1"},
      {"169.254.0.0/16 link-local", "169.254.169.254", "169.255.0.1"},
      {"172.16.0.0/12", "172.31.255.255", "172.32.0.1"},
      {"192.0.0.0/24 IETF", "192.0.0.170", "192.0.1.1"},
      {"192.0.2.0/24 TEST-NET-1", "192.0.2.1", nullptr},
      {"192.88.99.0/24 6to4 relay", "192.88.99.1", "192.88.100.1"},
      {"192.168.0.0/16", "192.168.1.1", "192.169.0.1"},
      {"198.18.0.0/15 benchmarking", "198.19.255.255", "198.20.0.1"},
      {"198.51.100.0/24 TEST-NET-2", "198.51.100.7", nullptr},
      {"203.0.113.0/24 TEST-NET-3", "203.0.113.7", "203.0.114.1"},
      {"224.0.0.0/4 multicast", "239.1.2.3", "223.255.255.254"},
      {"240.0.0.0/4 reserved", "240.0.0.1", nullptr},
      {"broadcast", "255.255.255.255", nullptr},
      {"::/128 unspecified", "::", nullptr},
      {"::1 loopback", "::1", nullptr},
      {"::/96 IPv4-compatible", "::10.0.0.1", nullptr},
      {"::ffff:0:0/96 mapped", "::ffff:127.0.0.1", "::ffff:8.8.8.8"},
      {"::ffff:0:0/96 mapped private", "::ffff:10.0.0.1", nullptr},
      {"::ffff:0:0:0/96 translated", "::ffff:0:192.168.0.1", "::ffff:0:8.8.4.4"},
      {"64:ff9b::/96 NAT64 to loopback", "64:ff9b::127.0.0.1", "64:ff9b::8.8.8.8"},
      {"64:ff9b::/96 NAT64 to metadata", "64:ff9b::a9fe:a9fe", nullptr},
      {"64:ff9b:1::/48 local NAT64", "64:ff9b:1::8.8.8.8", nullptr},
      {"100::/64 discard", "100::1", nullptr},
      {"2001::/32 Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:4860::8888"},
      {"2001:db8::/32 documentation", "2001:db8::1", nullptr},
      {"2002::/16 6to4 of 10/8", "2002:0a00:0001::1", "2002:0808:0808::1"},
      {"2002::/16 6to4 of loopback", "2002:7f00:1::", nullptr},
      {"fc00::/7 unique local", "fd12:3456::1", "fe00::1"},
      {"fc00::/7 unique local", "fc00::1", nullptr},
      {"fe80::/10 link-local", "fe80::1", nullptr},
      {"fec0::/10 site-local", "fec0::1", nullptr},
      {"ff00::/8 multicast", "ff02::1", nullptr},
  };
  for (const Row& r : rows) {
    EXPECT_TRUE(Private(r.inside)) << r.range << ": " << r.inside;
    if (r.outside) {
      EXPECT_FALSE(Private(r.outside)) << r.range << ": " << r.outside;
    }
  }
  for (auto a : {"8.8.8.8", "1.1.1.1", "142.250.80.46", "2606:4700::1111", "2a00:1450::200e"}) {
    EXPECT_FALSE(Private(a)) << a;
  }
}

TEST(Fetch, UrlsWithLineBreaksControlBytesOrSpacesAreRefused) {
  for (std::string bad :
       {std::string("http://h/a.png\r\nX-Injected: 1"), std::string("http://h/a\n"),
        std::string("http://h/a b.png"), std::string("http://h\t/a"), std::string("http://h/a\x7f"),
        std::string("http://h/\xc3\xa9.png"), std::string("http://h/a\0b", 12)}) {
    auto why = UnsafeUrlReason(bad);
    EXPECT_TRUE(why) << bad;
  }
  EXPECT_NE(UnsafeUrlReason("http://h/a\r\n")->find("line break"), std::string::npos);
  EXPECT_NE(UnsafeUrlReason("http://h/a b")->find("space"), std::string::npos);
  for (auto good :
       {"http://h/a.png", "https://h:8443/p/a%20b.png?x=1&y=%0D%0A#f", "http://[::1]:80/"}) {
    EXPECT_EQ(UnsafeUrlReason(good), std::nullopt) << good;
  }
}

std::string RunFetch(std::string url) {
  asio::io_context io;
  std::string out;
  FetchLimits limits;
  limits.allow_private = true;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto r = co_await FetchUrl(io.get_executor(), url, MakeFetchTls(), limits);
        out = std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "fetched";
      },
      asio::detached);
  io.run();
  return out;
}

TEST(Fetch, ALineBreakInTheUrlFailsBeforeAnythingIsSent) {
  // A listener that would see the request if one were sent.
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::string port = std::to_string(acceptor.local_endpoint().port());
  std::string why = RunFetch("http://127.0.0.1:" + port + "/a.png HTTP/1.1\r\nX-Injected: 1\r\n");
  EXPECT_NE(why.find("line break"), std::string::npos) << why;
  acceptor.non_blocking(true);
  tcp::socket s(io);
  boost::system::error_code ec;
  acceptor.accept(s, ec);
  EXPECT_EQ(ec, asio::error::would_block) << "no connection was made";
}

// A resolver whose lookups never end until cancelled, like getaddrinfo on a dead DNS server.
struct HangingResolver {
  using endpoint_type = tcp::endpoint;
  struct Entry {
    tcp::endpoint endpoint() const { return {}; }
  };
  using Handler = asio::any_completion_handler<void(boost::system::error_code, std::vector<Entry>)>;
  explicit HangingResolver(asio::any_io_executor ex) : ex(std::move(ex)) {}
  asio::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_resolve(std::string, std::string, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::vector<Entry>)>(
        [this](auto handler) { pending.emplace(std::move(handler)); }, token);
  }
  void cancel() {
    ++cancels;
    if (pending) {
      asio::post(ex, [h = std::move(*pending)]() mutable {
        std::move(h)(asio::error::operation_aborted, std::vector<Entry>{});
      });
      pending.reset();
    }
  }
  asio::any_io_executor ex;
  std::optional<Handler> pending;
  int cancels = 0;
};

TEST(Fetch, ALookupThatNeverAnswersEndsAtTheDeadline) {
  asio::io_context io;
  auto resolver = std::make_shared<HangingResolver>(io.get_executor());
  std::string why;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto r = co_await ResolveBefore(
            resolver, "slow.example", "443",
            std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
        done = true;
        if (auto* s = std::get_if<std::string>(&r)) why = *s;
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));  // a broken deadline fails the test, not the run
  EXPECT_TRUE(done) << "the lookup was abandoned";
  EXPECT_EQ(resolver->cancels, 1);
  EXPECT_NE(why.find("timed out resolving slow.example"), std::string::npos) << why;
}

TEST(Fetch, ALookupThatAnswersInTimeIsNotCancelled) {
  asio::io_context io;
  auto resolver = std::make_shared<tcp::resolver>(io.get_executor());
  size_t n = 0;
  std::string why;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto r =
            co_await ResolveBefore(resolver, "127.0.0.1", "80",
                                   std::chrono::steady_clock::now() + std::chrono::seconds(10));
        if (auto* s = std::get_if<std::string>(&r)) {
          why = *s;
        } else {
          n = std::get<0>(r).size();
        }
      },
      asio::detached);
  io.run_for(std::chrono::seconds(15));
  EXPECT_EQ(why, "");
  EXPECT_EQ(n, 1u);
}

}  // namespace
}  // namespace gkm
