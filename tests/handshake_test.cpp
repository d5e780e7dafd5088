// SPDX-License-Identifier: LGPL-2.1-or-later
// The handshake messages: what parseHello and parseWelcome accept and refuse
// (handshake.hpp). The fuzz target tests/fuzz/handshake_fuzz.cpp feeds them
// arbitrary bytes.
#include "handshake.hpp"

#include <catch2/catch.hpp>
#include <cstring>

using namespace frameshm;
using namespace frameshm::detail;

namespace {

std::vector<std::byte> welcomeBytes(WelcomeHead head, std::size_t records = 0) {
  std::vector<ReaderRecord> list(records, ReaderRecord{1, 0, 2, 3, 4});
  head.recordCount = static_cast<std::uint32_t>(records);
  return encode(head, list);
}

}  // namespace

TEST_CASE("a hello round-trips, and any other version, request or flag is refused") {
  Hello hello;
  hello.request = static_cast<std::uint16_t>(Request::Read);
  hello.flags = kHelloPin;
  auto parsed = parseHello(encode(hello));
  REQUIRE(parsed);
  CHECK(parsed->flags == kHelloPin);
  auto bytes = encode(hello);
  CHECK_FALSE(parseHello(std::span(bytes).first(15)));
  Hello bad = hello;
  bad.version = 2;
  CHECK(parseHello(encode(bad)).error().code == ErrorCode::AbiMismatch);
  bad = hello;
  bad.request = 9;
  CHECK_FALSE(parseHello(encode(bad)));
  bad = hello;
  bad.flags = 0x80;
  CHECK_FALSE(parseHello(encode(bad)));
  bad = hello;
  bad.magic = 0;
  CHECK_FALSE(parseHello(encode(bad)));
}

TEST_CASE("a welcome must carry exactly the descriptors its backend and request need") {
  WelcomeHead head;
  head.backend = static_cast<std::uint32_t>(Backend::Memfd);
  CHECK(parseWelcome(welcomeBytes(head), 2, Request::Read));
  CHECK_FALSE(parseWelcome(welcomeBytes(head), 1, Request::Read));
  CHECK_FALSE(parseWelcome(welcomeBytes(head), 3, Request::Read));
  CHECK(parseWelcome(welcomeBytes(head), 1, Request::Inspect));
  head.backend = static_cast<std::uint32_t>(Backend::SysV);
  CHECK_FALSE(parseWelcome(welcomeBytes(head), 1, Request::Read));  // no segment id
  head.shmid = 5;
  CHECK(parseWelcome(welcomeBytes(head), 1, Request::Read));
  CHECK(parseWelcome(welcomeBytes(head), 0, Request::Inspect));
  head.status = static_cast<std::uint16_t>(Status::Denied);
  CHECK(parseWelcome(welcomeBytes(head), 0, Request::Read)->status == Status::Denied);
  CHECK_FALSE(parseWelcome(welcomeBytes(head), 1, Request::Read));
}

TEST_CASE("a welcome with a bad magic, version, status, backend, length or reader count is refused") {
  WelcomeHead head;
  head.backend = static_cast<std::uint32_t>(Backend::Posix);
  auto good = welcomeBytes(head, 3);
  auto parsed = parseWelcome(good, 1, Request::Inspect);
  REQUIRE(parsed);
  CHECK(parsed->readers.size() == 3);
  CHECK(parsed->readers[2].framesTorn == 4);
  CHECK_FALSE(parseWelcome(std::span(good).first(good.size() - 1), 1, Request::Inspect));
  CHECK_FALSE(parseWelcome(welcomeBytes(head, 3), 2, Request::Read));  // records only answer Inspect
  WelcomeHead bad = head;
  bad.magic = 1;
  CHECK_FALSE(parseWelcome(welcomeBytes(bad), 1, Request::Inspect));
  bad = head;
  bad.version = 9;
  CHECK(parseWelcome(welcomeBytes(bad), 1, Request::Inspect).error().code == ErrorCode::AbiMismatch);
  bad = head;
  bad.status = 77;
  CHECK_FALSE(parseWelcome(welcomeBytes(bad), 0, Request::Inspect));
  bad = head;
  bad.backend = 0;
  CHECK_FALSE(parseWelcome(welcomeBytes(bad), 1, Request::Inspect));
  auto lying = welcomeBytes(head);
  const std::uint32_t huge = 0xffffffffu;
  std::memcpy(lying.data() + offsetof(WelcomeHead, recordCount), &huge, sizeof huge);
  CHECK_FALSE(parseWelcome(lying, 1, Request::Inspect));
  CHECK_FALSE(parseWelcome({}, 0, Request::Read));
}
