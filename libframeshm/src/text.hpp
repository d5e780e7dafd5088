// SPDX-License-Identifier: LGPL-2.1-or-later
// Text helpers for the library's error messages. Private to the library.
#pragma once

#include <string>
#include <string_view>

namespace frameshm::detail {

// A feed name (or any text from a caller or a segment) in single quotes, with
// every byte outside printable ASCII shown as \xNN, so that a hostile name
// cannot put terminal escapes into a message. Built by appending: GCC 12's
// -O3 reports a false -Wrestrict for "'" + std::string(...) + "'".
inline std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('\'');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out.push_back(c);
    } else {
      out.append("\\x");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  out.push_back('\'');
  return out;
}

}  // namespace frameshm::detail
