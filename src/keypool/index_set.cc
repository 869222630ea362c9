#include "keypool/index_set.h"

namespace gkm {
namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

}  // namespace

void IndexSet::Resize(size_t n) {
  size_t words = (n + 63) / 64;
  size_t level = 0;
  do {
    if (levels_.size() <= level) levels_.emplace_back();
    if (levels_[level].size() < words) levels_[level].resize(words, 0);
    words = (words + 63) / 64;
    ++level;
  } while (levels_[level - 1].size() > 1);
  // A level added above existing ones must know which words below are not empty.
  for (size_t l = 1; l < levels_.size(); ++l) {
    for (size_t w = 0; w < levels_[l - 1].size(); ++w) {
      if (levels_[l - 1][w] != 0) levels_[l][w >> 6] |= uint64_t{1} << (w & 63);
    }
  }
}

void IndexSet::Insert(size_t i) {
  for (auto& level : levels_) {
    const bool was_empty = level[i >> 6] == 0;
    level[i >> 6] |= uint64_t{1} << (i & 63);
    if (!was_empty) return;
    i >>= 6;
  }
}

void IndexSet::Erase(size_t i) {
  for (auto& level : levels_) {
    level[i >> 6] &= ~(uint64_t{1} << (i & 63));
    if (level[i >> 6] != 0) return;
    i >>= 6;
  }
}

bool IndexSet::Contains(size_t i) const {
  return !levels_.empty() && (i >> 6) < levels_[0].size() &&
         (levels_[0][i >> 6] >> (i & 63) & 1) != 0;
}

size_t IndexSet::Next(size_t level, size_t i) const {
  const auto& words = levels_[level];
  size_t w = i >> 6;
  if (w >= words.size()) return kNone;
  if (uint64_t bits = words[w] & (~uint64_t{0} << (i & 63)); bits != 0) {
    return (w << 6) + static_cast<size_t>(__builtin_ctzll(bits));
  }
  if (level + 1 == levels_.size()) {  // the top level: one word
    return kNone;
  }
  const size_t next_word = Next(level + 1, w + 1);
  if (next_word == kNone) return kNone;
  return (next_word << 6) + static_cast<size_t>(__builtin_ctzll(words[next_word]));
}

std::optional<size_t> IndexSet::NextFrom(size_t i) const {
  if (levels_.empty()) return std::nullopt;
  size_t n = Next(0, i);
  if (n == kNone) return std::nullopt;
  return n;
}

}  // namespace gkm
