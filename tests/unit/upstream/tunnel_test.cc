// The fixed messages of the egress tunnels (upstream/tunnel.h): SOCKS5 (RFC 1928, 1929) and
// CONNECT's Basic credentials.
#include "upstream/tunnel.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

TEST(Tunnel, BasicCredentials) {
  EXPECT_EQ(BasicCredentials("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(BasicCredentials("u", ""), "Basic dTo=");
  EXPECT_EQ(BasicCredentials("us", "p:w"), "Basic dXM6cDp3");
}

TEST(Socks5, Greeting) {
  EXPECT_EQ(socks5::Greeting(false), Bytes({5, 1, 0}));
  EXPECT_EQ(socks5::Greeting(true), Bytes({5, 2, 0, 2}));
}

TEST(Socks5, Credentials) {
  EXPECT_EQ(socks5::Credentials("bob", "pw"), Bytes({1, 3, 'b', 'o', 'b', 2, 'p', 'w'}));
  EXPECT_EQ(socks5::Credentials("bob", ""), Bytes({1, 3, 'b', 'o', 'b', 0}));
  EXPECT_EQ(socks5::Credentials("", "pw"), "");
  EXPECT_EQ(socks5::Credentials(std::string(256, 'u'), "pw"), "");
  EXPECT_EQ(socks5::Credentials("u", std::string(256, 'p')), "");
  EXPECT_EQ(socks5::Credentials(std::string(255, 'u'), "p").size(), 1u + 1 + 255 + 1 + 1);
}

TEST(Socks5, ConnectByNameOrAddress) {
  EXPECT_EQ(socks5::Connect("gemini.test", 443), Bytes({5, 1, 0, 3, 11, 'g', 'e', 'm', 'i', 'n',
                                                        'i', '.', 't', 'e', 's', 't', 1, 0xbb}));
  EXPECT_EQ(socks5::Connect("127.0.0.1", 8443), Bytes({5, 1, 0, 1, 127, 0, 0, 1, 0x20, 0xfb}));
  EXPECT_EQ(socks5::Connect("::1", 1),
            Bytes({5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}));
  EXPECT_EQ(socks5::Connect(std::string(255, 'a'), 1).size(), 4u + 1 + 255 + 2);
  EXPECT_EQ(socks5::Connect(std::string(256, 'a'), 1), "");
  EXPECT_EQ(socks5::Connect("", 1), "");
}

TEST(Socks5, ReplyText) {
  EXPECT_EQ(socks5::ReplyText(2), "connection not allowed by ruleset");
  EXPECT_EQ(socks5::ReplyText(5), "connection refused");
  EXPECT_EQ(socks5::ReplyText(9), "reply code 9");
}

}  // namespace
}  // namespace gkm
