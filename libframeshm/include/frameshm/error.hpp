// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/error.hpp — the error type every fallible frameshm call returns.
//
// No exception crosses the frameshm API: a call that can fail returns
// `frameshm::Result<T>` (a `std::expected<T, frameshm::Error>`). An Error has
// a code a program can branch on and a message a user can act on.
//
//   auto consumer = frameshm::Consumer::open({.feed = "cam0"});
//   if (!consumer) {
//     std::fprintf(stderr, "%s\n", consumer.error().message.c_str());
//     return 2;
//   }
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace frameshm {

enum class ErrorCode {
  InvalidArgument,    // a caller-supplied value is out of range
  InvalidFeedName,    // the feed name is not 1..200 of [A-Za-z0-9._-]
  UnsupportedFormat,  // pixel format, size or stride the transport cannot carry
  NotFound,           // no feed of that name exists (yet)
  PermissionDenied,   // the feed exists but this user may not open it
  AlreadyProduced,    // a live producer holds the feed
  AbiMismatch,        // the segment was written by an incompatible frameshm
  Corrupt,            // the segment failed validation
  Timeout,            // nothing arrived within the deadline
  NoFrame,            // a non-blocking poll found no new frame
  ProducerGone,       // the producer died without ending the feed
  FeedEnded,          // the producer ended the feed cleanly
  TakenOver,          // another producer replaced this one (producer side)
  ReadersFull,        // every reader slot of the feed is taken
  InvalidState,       // the call does not fit the object's state
  SystemError,        // an operating-system call failed
};

// The code's name, e.g. "not-found", for logs and JSON.
[[nodiscard]] std::string_view toString(ErrorCode code) noexcept;

struct Error {
  ErrorCode code;
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

// Builds the unexpected value of a Result: `return fail(ErrorCode::Timeout, "...")`.
[[nodiscard]] inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

// An Error for a failed system call: the message ends with strerror(err).
[[nodiscard]] std::unexpected<Error> failErrno(std::string_view what, int err);

}  // namespace frameshm
