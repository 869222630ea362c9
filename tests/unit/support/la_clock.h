// The quota clock most pool tests use: Google's reset, midnight in Los Angeles.
#pragma once

#include <gtest/gtest.h>

#include "quotaday/quota_clock.h"

namespace gkm::testing_util {

inline QuotaClock LosAngelesClock() {
  std::string error;
  auto c = QuotaClock::Make("America/Los_Angeles", std::chrono::seconds(0), &error);
  EXPECT_TRUE(c) << error;
  return *c;
}

}  // namespace gkm::testing_util
