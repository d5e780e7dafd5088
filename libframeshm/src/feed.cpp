// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/feed.hpp"

#include <cstdlib>

#include "text.hpp"

namespace frameshm {
using detail::quoted;
namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

Result<void> validateFeedName(std::string_view feed) {
  if (feed.empty())
    return fail(ErrorCode::InvalidFeedName, "feed name is empty (use 1..200 of A-Z a-z 0-9 . _ -)");
  if (feed.size() > kMaxFeedNameLength)
    return fail(ErrorCode::InvalidFeedName,
                "feed name is " + std::to_string(feed.size()) + " characters long; the limit is 200");
  for (char c : feed) {
    if (!isNameChar(c))
      return fail(ErrorCode::InvalidFeedName,
                  "feed name " + quoted(feed) + " has a character other than A-Z a-z 0-9 . _ -");
  }
  return {};
}

const char* toString(Backend backend) noexcept {
  switch (backend) {
    case Backend::Memfd:
      return "memfd";
    case Backend::Posix:
      return "posix";
    case Backend::SysV:
      return "sysv";
  }
  return "unknown";
}

std::optional<Backend> backendFromString(std::string_view name) noexcept {
  for (Backend b : {Backend::Memfd, Backend::Posix, Backend::SysV})
    if (name == toString(b)) return b;
  return std::nullopt;
}

const char* toString(FeedState state) noexcept {
  switch (state) {
    case FeedState::Creating:
      return "creating";
    case FeedState::Live:
      return "live";
    case FeedState::Ended:
      return "ended";
    case FeedState::Superseded:
      return "superseded";
  }
  return "unknown";
}

std::string feedAddress(std::string_view feed, std::string_view socketDir) {
  std::string dir(socketDir);
  if (dir.empty()) {
    const char* env = std::getenv("FRAMESHM_SOCKET_DIR");
    if (env) dir = env;
  }
  if (dir.empty()) return "@frameshm/" + std::string(feed);
  return dir + "/frameshm." + std::string(feed) + ".sock";
}

}  // namespace frameshm
