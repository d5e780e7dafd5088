// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/feed.hpp"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <string>

using namespace frameshm;

TEST_CASE("feed names of 1..200 of [A-Za-z0-9._-] are accepted") {
  CHECK(validateFeedName("cam0"));
  CHECK(validateFeedName("a"));
  CHECK(validateFeedName("Front-Door_cam.2"));
  CHECK(validateFeedName(std::string(200, 'x')));
}

TEST_CASE("feed names that are empty, too long or could escape /dev/shm are refused") {
  for (const std::string& bad :
       {std::string(), std::string(201, 'x'), std::string("../etc/passwd"), std::string("a/b"),
        std::string("cam 0"), std::string("cam\n"), std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    INFO("name: " << bad);
    auto result = validateFeedName(bad);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ErrorCode::InvalidFeedName);
    CHECK_FALSE(result.error().message.empty());
  }
}

TEST_CASE("backends have one name each, both ways") {
  for (Backend b : {Backend::Memfd, Backend::Posix, Backend::SysV})
    CHECK(backendFromString(toString(b)) == b);
  CHECK_FALSE(backendFromString("shm"));
  CHECK_FALSE(backendFromString(""));
}

TEST_CASE("a feed's address is the abstract name unless a socket directory is given") {
  unsetenv("FRAMESHM_SOCKET_DIR");
  CHECK(feedAddress("cam0") == "@frameshm/cam0");
  CHECK(feedAddress("cam0", "/run/x") == "/run/x/frameshm.cam0.sock");
  setenv("FRAMESHM_SOCKET_DIR", "/run/env", 1);
  CHECK(feedAddress("cam0") == "/run/env/frameshm.cam0.sock");
  CHECK(feedAddress("cam0", "/run/x") == "/run/x/frameshm.cam0.sock");  // the option comes first
  unsetenv("FRAMESHM_SOCKET_DIR");
}
