// Egress proxy URLs, NO_PROXY matching and rendezvous pinning (common/proxy_url.h).
#include "common/proxy_url.h"

#include <gtest/gtest.h>

#include <map>

namespace gkm {
namespace {

ProxyUrl Parse(std::string_view url) {
  std::string error;
  auto p = ParseProxyUrl(url, &error);
  EXPECT_TRUE(p) << url << ": " << error;
  return p.value_or(ProxyUrl{});
}

std::string Refused(std::string_view url) {
  std::string error;
  auto p = ParseProxyUrl(url, &error);
  EXPECT_FALSE(p) << url;
  return error;
}

TEST(ProxyUrl, ParsesTheThreeSchemes) {
  ProxyUrl h = Parse("http://proxy.example:3128");
  EXPECT_EQ(h.scheme, ProxyUrl::Scheme::kHttp);
  EXPECT_EQ(h.host, "proxy.example");
  EXPECT_EQ(h.port, 3128);
  EXPECT_FALSE(h.has_auth);
  EXPECT_EQ(h.identity, "http://proxy.example:3128");
  EXPECT_EQ(h.redacted, "http://proxy.example:3128");
  EXPECT_EQ(Parse("socks5://10.0.0.1:1080").scheme, ProxyUrl::Scheme::kSocks5);
  EXPECT_EQ(Parse("SOCKS5H://Proxy.Example:1080").scheme, ProxyUrl::Scheme::kSocks5h);
  EXPECT_EQ(Parse("SOCKS5H://Proxy.Example:1080").host, "proxy.example");
  EXPECT_EQ(Parse("http://proxy.example:3128/").port, 3128);  // a trailing slash is tolerated
}

TEST(ProxyUrl, CredentialsAreDecodedAndRedacted) {
  ProxyUrl p = Parse("http://us%40er:p%3Ass@w0rd@proxy.example:8080");
  EXPECT_TRUE(p.has_auth);
  EXPECT_EQ(p.user, "us@er");
  EXPECT_EQ(p.password, "p:ss@w0rd");
  EXPECT_EQ(p.redacted, "http://us%40er:***@proxy.example:8080");
  EXPECT_EQ(p.identity, "http://proxy.example:8080");  // no credentials in the identity
  EXPECT_EQ(p.redacted.find("w0rd"), std::string::npos);
  ProxyUrl u = Parse("socks5h://only-user@proxy.example:1080");
  EXPECT_EQ(u.user, "only-user");
  EXPECT_EQ(u.password, "");
  EXPECT_EQ(u.redacted, "socks5h://only-user@proxy.example:1080");
}

TEST(ProxyUrl, Ipv6InBrackets) {
  ProxyUrl p = Parse("socks5://[::1]:1080");
  EXPECT_EQ(p.host, "::1");
  EXPECT_EQ(p.identity, "socks5://[::1]:1080");
  EXPECT_NE(Refused("http://[::1:1080"), "");
  EXPECT_NE(Refused("http://[zz]:1080"), "");
  EXPECT_NE(Refused("http://[::1]"), "");
}

TEST(ProxyUrl, RefusesWithOneLineReasons) {
  EXPECT_NE(Refused("https://proxy.example:443").find("not supported"), std::string::npos);
  EXPECT_NE(Refused("ftp://proxy.example:21").find("must start with"), std::string::npos);
  EXPECT_NE(Refused("proxy.example:3128").find("must start with"), std::string::npos);
  EXPECT_NE(Refused("http://proxy.example").find("port"), std::string::npos);
  EXPECT_NE(Refused("http://proxy.example:0").find("port"), std::string::npos);
  EXPECT_NE(Refused("http://proxy.example:65536").find("port"), std::string::npos);
  EXPECT_NE(Refused("http://proxy.example:80a").find("port"), std::string::npos);
  EXPECT_NE(Refused("http://proxy.example:3128/path").find("no path"), std::string::npos);
  EXPECT_NE(Refused("http://:3128").find("no host"), std::string::npos);
  EXPECT_NE(Refused("http://a b:3128").find("space"), std::string::npos);
  EXPECT_NE(Refused("http://:pw@proxy.example:3128").find("no user"), std::string::npos);
  EXPECT_NE(Refused("http://u:%zz@proxy.example:3128").find("%-escape"), std::string::npos);
  EXPECT_NE(Refused("socks5://u:" + std::string(256, 'x') + "@p.example:1080").find("255"),
            std::string::npos);
  // No message repeats the password.
  EXPECT_EQ(Refused("https://u:s3cret-pw@proxy.example:1").find("s3cret"), std::string::npos);
  EXPECT_EQ(Refused("http://u:s3cret-pw@proxy.example").find("s3cret"), std::string::npos);
}

TEST(NoProxy, Rules) {
  EXPECT_TRUE(NoProxyMatches("*", "generativelanguage.googleapis.com", 443));
  EXPECT_TRUE(NoProxyMatches("googleapis.com", "generativelanguage.googleapis.com", 443));
  EXPECT_TRUE(NoProxyMatches(".googleapis.com", "generativelanguage.googleapis.com", 443));
  EXPECT_TRUE(NoProxyMatches("googleapis.com", "googleapis.com", 443));
  EXPECT_TRUE(NoProxyMatches("GoogleAPIs.com.", "generativelanguage.googleapis.COM", 443));
  EXPECT_FALSE(NoProxyMatches("apis.com", "generativelanguage.googleapis.com", 443));
  EXPECT_FALSE(NoProxyMatches("example.com, localhost", "generativelanguage.googleapis.com", 443));
  EXPECT_TRUE(NoProxyMatches("example.com, localhost", "localhost", 8443));
  EXPECT_TRUE(NoProxyMatches("a.example  ,b.example", "x.b.example", 443));
  EXPECT_FALSE(NoProxyMatches("", "localhost", 443));
  // Ports.
  EXPECT_TRUE(NoProxyMatches("localhost:8443", "localhost", 8443));
  EXPECT_FALSE(NoProxyMatches("localhost:8443", "localhost", 443));
  // Addresses and prefixes.
  EXPECT_TRUE(NoProxyMatches("127.0.0.1", "127.0.0.1", 443));
  EXPECT_FALSE(NoProxyMatches("127.0.0.1", "127.0.0.2", 443));
  EXPECT_TRUE(NoProxyMatches("10.0.0.0/8", "10.200.3.4", 443));
  EXPECT_FALSE(NoProxyMatches("10.0.0.0/8", "11.0.0.1", 443));
  EXPECT_TRUE(NoProxyMatches("192.168.1.0/25", "192.168.1.127", 443));
  EXPECT_FALSE(NoProxyMatches("192.168.1.0/25", "192.168.1.128", 443));
  EXPECT_TRUE(NoProxyMatches("::1", "[::1]", 443));
  EXPECT_TRUE(NoProxyMatches("[::1]:443", "::1", 443));
  EXPECT_TRUE(NoProxyMatches("fd00::/8", "fd12::5", 443));
  EXPECT_FALSE(NoProxyMatches("fd00::/8", "fe80::1", 443));
  EXPECT_FALSE(NoProxyMatches("10.0.0.0/8", "ten.example", 443));  // a prefix is not a name
  EXPECT_FALSE(NoProxyMatches("10.0.0.0/33", "10.0.0.1", 443));    // malformed: ignored
}

TEST(Rendezvous, StableSpreadAndMinimalMoves) {
  const std::vector<std::string> three = {"http://a:1", "http://b:1", "http://c:1"};
  const std::vector<std::string> two = {"http://a:1", "http://b:1"};
  const std::vector<std::string> reordered = {"http://c:1", "http://a:1", "http://b:1"};
  std::map<std::string, int> load;
  int moved = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string id = "k" + std::to_string(i);
    const std::string& with3 = three[RendezvousPick(id, three)];
    EXPECT_EQ(with3, three[RendezvousPick(id, three)]);          // stable
    EXPECT_EQ(with3, reordered[RendezvousPick(id, reordered)]);  // order does not matter
    const std::string& with2 = two[RendezvousPick(id, two)];
    if (with3 != "http://c:1") {
      EXPECT_EQ(with2, with3) << id;  // only c's keys move when c goes
    } else {
      ++moved;
    }
    ++load[with3];
  }
  for (const auto& [proxy, n] : load) {
    EXPECT_GT(n, 850) << proxy;  // about a third each
    EXPECT_LT(n, 1150) << proxy;
  }
  EXPECT_EQ(moved, load["http://c:1"]);
  EXPECT_EQ(RendezvousPick("anything", {"http://only:1"}), 0u);
}

TEST(Rendezvous, KnownValuesDoNotChangeAcrossBuilds) {
  // The choice must be the same on every machine and in every version, or keys would leave
  // through another address after an upgrade.
  const std::vector<std::string> list = {"http://p1:3128", "http://p2:3128", "http://p3:3128"};
  std::vector<size_t> got;
  for (const char* id : {"k0000", "k1111", "k2222", "k3333", "k4444", "k5555"}) {
    got.push_back(RendezvousPick(id, list));
  }
  EXPECT_EQ(got, (std::vector<size_t>{2, 2, 2, 2, 1, 0}));
}

}  // namespace
}  // namespace gkm
