#include "upstream/fetch.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

bool Private(const char* a) { return IsPrivateAddress(boost::asio::ip::make_address(a)); }

TEST(Fetch, PrivateAndSpecialAddressesAreRefused) {
  for (auto a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                 "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "::", "fe80::1",
                 "fc00::1", "fd12::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"}) {
    EXPECT_TRUE(Private(a)) << a;
  }
  for (auto a : {"8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2001:4860::8888",
                 "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(Private(a)) << a;
  }
}

}  // namespace
}  // namespace gkm
