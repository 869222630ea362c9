// HugePageAllocator: an allocator for large, long-lived arrays that are read at random places
// (the key pool's per-key and per-project records), whose memory it asks the kernel to back
// with transparent huge pages (madvise MADV_HUGEPAGE; THP in "madvise" mode, the default of
// many distributions, gives huge pages only to memory asked for this way).
//
// Why: with 100,000 keys a pick reads a few records of the keys and projects in rotation,
// scattered over tens of megabytes: each on its own 4 KiB page, more pages than the TLB
// holds, so most reads pay a page walk (dearer still in a virtual machine, where it is a
// two-level walk). On 2 MiB pages the same arrays take a few dozen TLB entries.
//
// Blocks under kHugePageMinBytes come from operator new as usual; larger ones are mapped
// (mmap, so aligned to a page and given back to the kernel whole), rounded up to 2 MiB and
// aligned to it so that every 2 MiB of the block can be a huge page. Where THP is off or
// madvise fails, the block is ordinary memory: only slower, never wrong.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace gkm {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;
// Below this an array spans too few pages for the TLB to matter.
inline constexpr size_t kHugePageMinBytes = size_t{4} << 20;

// Maps `bytes` (a multiple of kHugePageBytes) aligned to kHugePageBytes, advised huge.
void* MapHuge(size_t bytes);
void UnmapHuge(void* p, size_t bytes);

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  static size_t Rounded(size_t bytes) {
    return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  }
  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePageMinBytes) {
      return static_cast<T*>(::operator new (bytes, std::align_val_t{alignof(T)}));
    }
    return static_cast<T*>(MapHuge(Rounded(bytes)));
  }
  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePageMinBytes) {
      ::operator delete (p, std::align_val_t{alignof(T)});
    } else {
      UnmapHuge(p, Rounded(bytes));
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace gkm
