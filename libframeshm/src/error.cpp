// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/error.hpp"

#include <cstring>

namespace frameshm {

std::string_view toString(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::InvalidFeedName: return "invalid-feed-name";
    case ErrorCode::UnsupportedFormat: return "unsupported-format";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::PermissionDenied: return "permission-denied";
    case ErrorCode::AlreadyProduced: return "already-produced";
    case ErrorCode::AbiMismatch: return "abi-mismatch";
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::NoFrame: return "no-frame";
    case ErrorCode::ProducerGone: return "producer-gone";
    case ErrorCode::FeedEnded: return "feed-ended";
    case ErrorCode::TakenOver: return "taken-over";
    case ErrorCode::ReadersFull: return "readers-full";
    case ErrorCode::InvalidState: return "invalid-state";
    case ErrorCode::SystemError: return "system-error";
  }
  return "unknown";
}

std::unexpected<Error> failErrno(std::string_view what, int err) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return fail(ErrorCode::SystemError, std::move(message));
}

}  // namespace frameshm
