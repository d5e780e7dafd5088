// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: what either side does with handshake bytes from the
// other end of a feed's socket (handshake.hpp). The first input byte picks
// the descriptor count, the request the answer is taken to answer and
// whether a notification pipe was asked for; the
// rest is the message. Any crash, sanitizer report or hang is a bug in the
// parser, which must refuse what it cannot vouch for.
//
//   build/fuzz/tests/fuzz/handshake_fuzz -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <span>

#include "handshake.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace frameshm::detail;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  (void)parseHello(bytes);
  if (size == 0) return 0;
  const int fdCount = data[0] & 3;
  const auto request = static_cast<Request>(1 + (data[0] >> 2) % 3);
  const bool notify = (data[0] & 0x80) != 0;
  auto welcome = parseWelcome(bytes.subspan(1), fdCount, request, notify);
  if (welcome) {
    // What a valid answer promises, it keeps.
    if (fdCount != expectedFds(request, welcome->status, welcome->backend, notify)) __builtin_trap();
    if (welcome->readers.size() > kMaxRecords) __builtin_trap();
  }
  return 0;
}
