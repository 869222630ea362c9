// IndexSet: a set of small integers (project indices) with O(1) insert and erase and a
// "first member at or after i" in O(levels): a bitmap with a summary bitmap over its words,
// and so on up (three levels cover 262,144 members). The fill_first strategy uses it to find
// the first project in key-file order that can serve, however many cannot. Not thread-safe
// (the key pool's lock guards it). Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace gkm {

class IndexSet {
 public:
  // Makes room for members 0..n-1 (keeps the members it has).
  void Resize(size_t n);
  void Insert(size_t i);
  void Erase(size_t i);
  bool Contains(size_t i) const;
  // The smallest member >= i, or nullopt.
  std::optional<size_t> NextFrom(size_t i) const;

 private:
  size_t Next(size_t level, size_t i) const;
  std::vector<std::vector<uint64_t>> levels_;  // levels_[0]: the members; above: non-empty words
};

}  // namespace gkm
