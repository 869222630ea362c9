#include "common/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace gkm {
namespace {

template <typename T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

TEST(HugePages, LargeArraysAreAlignedToAHugePageAndHoldTheirValues) {
  HugeVector<uint64_t> v(kHugePageMinBytes / sizeof(uint64_t) + 3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % kHugePageBytes, 0u);
  for (size_t i = 0; i < v.size(); ++i) v[i] = i * 7;
  for (size_t i = 0; i < v.size(); i += 4099) EXPECT_EQ(v[i], i * 7);
  EXPECT_EQ(v.back(), (v.size() - 1) * 7);
}

TEST(HugePages, GrowingMovesValuesAcrossBothKindsOfBlock) {
  HugeVector<uint32_t> v;
  const size_t n = 2 * kHugePageMinBytes / sizeof(uint32_t);
  for (size_t i = 0; i < n; ++i) v.push_back(static_cast<uint32_t>(i));
  ASSERT_EQ(v.size(), n);
  for (size_t i = 0; i < n; i += 997) EXPECT_EQ(v[i], i);
  v.resize(10);
  v.shrink_to_fit();  // back to an ordinary block
  EXPECT_EQ(v[9], 9u);
}

struct alignas(64) Line {
  char bytes[64];
};

TEST(HugePages, SmallArraysKeepTheirTypesAlignment) {
  HugeVector<Line> v(3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 64, 0u);
}

}  // namespace
}  // namespace gkm
