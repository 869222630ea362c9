#include "common/huge_pages.h"

namespace gkm {

void* MapHuge(size_t bytes) {
  // Mapped with one huge page to spare, then trimmed to an aligned start.
  const size_t span = bytes + kHugePageBytes;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  if (const uintptr_t end = start + span; end > aligned + bytes) {
    munmap(reinterpret_cast<void*>(aligned + bytes), end - (aligned + bytes));
  }
  void* p = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without it the memory is ordinary pages
#endif
  return p;
}

void UnmapHuge(void* p, size_t bytes) { munmap(p, bytes); }

}  // namespace gkm
