// SPDX-License-Identifier: LGPL-2.1-or-later
// Private: atomic access to fields of the shared segment.
//
// The layout structs are plain data (layout.hpp), because they are shared
// with other processes and builds. Fields that another process changes
// concurrently are read and written only through these helpers, which work on
// read-only mappings too (a load never writes), unlike std::atomic_ref<T>.
#pragma once

#include <cstdint>

namespace frameshm::detail {

template <class T>
[[nodiscard]] inline T loadAcquire(const T& field) noexcept {
  return __atomic_load_n(&field, __ATOMIC_ACQUIRE);
}
template <class T>
[[nodiscard]] inline T loadRelaxed(const T& field) noexcept {
  return __atomic_load_n(&field, __ATOMIC_RELAXED);
}
template <class T>
[[nodiscard]] inline T loadSeqCst(const T& field) noexcept {
  return __atomic_load_n(&field, __ATOMIC_SEQ_CST);
}
template <class T>
inline void storeRelease(T& field, T value) noexcept {
  __atomic_store_n(&field, value, __ATOMIC_RELEASE);
}
template <class T>
inline void storeRelaxed(T& field, T value) noexcept {
  __atomic_store_n(&field, value, __ATOMIC_RELAXED);
}
template <class T>
inline void storeSeqCst(T& field, T value) noexcept {
  __atomic_store_n(&field, value, __ATOMIC_SEQ_CST);
}
template <class T>
[[nodiscard]] inline bool compareExchange(T& field, T& expected, T desired) noexcept {
  return __atomic_compare_exchange_n(&field, &expected, desired, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}
// Orders the reads before it (a frame's bytes) before the loads after it (the
// slot's sequence again): the closing half of a seqlock read.
inline void fenceAcquire() noexcept {
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
  // GCC's ThreadSanitizer refuses fences. On x86-64 an acquire fence is only a
  // compiler barrier (loads are not reordered with loads), so this is the same.
  asm volatile("" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
#endif
}

// Tells the CPU we are spinning (lets the sibling hyperthread run).
inline void cpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace frameshm::detail
