// SPDX-License-Identifier: LGPL-2.1-or-later
// bench/floors.hpp — what the machine itself charges for the steps of a
// transport, measured without frameshm in the same run: the physical limits
// some goals are judged beside.
//
//   double oneUs = frameshm::bench::wakeAllCpuUs(1, 60, 1.0);
//   double manyUs = frameshm::bench::wakeAllCpuUs(64, 60, 1.0);  // the kernel's cost per waiter
//   double futexUs = frameshm::bench::waiterCpuUs(frameshm::bench::Waiter::ReadOnlyFutex, 60, 2.0);
#pragma once

#include <cstddef>

#include "harness.hpp"

namespace frameshm::bench {

// CPU per frame, in microseconds, of a process that sleeps to each frame time
// at `rateHz` and then wakes `waiters` processes blocked in FUTEX_WAIT on one
// word of a memfd they map read-only: frameshm's wake with nothing around it.
// Its growth with `waiters` is the kernel's cost of waking each of them.
double wakeAllCpuUs(int waiters, double rateHz, double seconds);

// CPU per frame, in microseconds, of a process that copies a frame of `bytes`
// into one of 3 slots of a memfd at `rateHz` and wakes `readers` processes
// that each read every byte of it (a sum, as a verifying reader's check):
// what readers' memory traffic alone does to a copying producer. With
// `bytes` 0 it is wakeAllCpuUs.
double copyBesideReadersCpuUs(std::size_t bytes, int readers, double rateHz, double seconds);

enum class Waiter {
  ReadOnlyFutex,  // FUTEX_WAIT on a read-only shared mapping (frameshmsrc's wait)
  SocketMessage,  // poll, recv a message, send an acknowledgement (shmsrc's wait and release)
};
// CPU per wake, in microseconds, of a bare process woken at `rateHz` the way
// `kind` says: what a reading process pays per frame before any GStreamer work.
double waiterCpuUs(Waiter kind, double rateHz, double seconds);

// Bandwidth, MB/s, of a process that copies frames of `bytes` back to back and
// after each one wakes a process blocked on a read-only futex word that waits
// for every frame (frameshm's copy-publish to a blocking reader, nothing else).
double copyAndWakeMBps(std::size_t bytes, double seconds);

// Time of one memcpy of `bytes` done once per frame at `rateHz` (4 sources into
// 3 rotating targets, as a sink copies into slots), in microseconds: a copy after
// a frame interval's idle, slower than a copy loop's.
Summary pacedCopyUs(std::size_t bytes, double rateHz, double seconds);

}  // namespace frameshm::bench
