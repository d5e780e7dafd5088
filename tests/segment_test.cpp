// SPDX-License-Identifier: LGPL-2.1-or-later
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "frameshm/segment.hpp"
#include "test_support.hpp"

using namespace frameshm;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;

TEST_CASE("feed names of 1..200 of [A-Za-z0-9._-] are accepted") {
  CHECK(validateFeedName("cam0"));
  CHECK(validateFeedName("a"));
  CHECK(validateFeedName("Front-Door_cam.2"));
  CHECK(validateFeedName(std::string(200, 'x')));
}

TEST_CASE("feed names that are empty, too long or could escape /dev/shm are refused") {
  for (const std::string& bad : {std::string(), std::string(201, 'x'), std::string("../etc/passwd"),
                                 std::string("a/b"), std::string("cam 0"), std::string("cam\n"),
                                 std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    INFO("name: " << bad);
    auto result = validateFeedName(bad);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ErrorCode::InvalidFeedName);
    CHECK_FALSE(result.error().message.empty());
  }
}

TEST_CASE("a segment is created exclusively with the requested mode despite the umask") {
  const auto feed = uniqueFeed("mode");
  FeedGuard guard(feed);
  const mode_t old = umask(077);
  auto segment = PosixShmSegment::create(feed, 0660);
  umask(old);
  REQUIRE(segment);
  struct stat st{};
  REQUIRE(stat(("/dev/shm/frameshm." + feed).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);

  auto again = PosixShmSegment::create(feed, 0600);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::AlreadyProduced);
}

TEST_CASE("opening a missing feed says it does not exist") {
  auto segment = PosixShmSegment::open(uniqueFeed("missing"));
  REQUIRE_FALSE(segment);
  CHECK(segment.error().code == ErrorCode::NotFound);
  CHECK(segment.error().message.find("does not exist") != std::string::npos);
}

TEST_CASE("a symbolic link in /dev/shm is not followed") {
  const auto feed = uniqueFeed("link");
  const std::string path = "/dev/shm/frameshm." + feed;
  REQUIRE(symlink("/etc/hostname", path.c_str()) == 0);
  auto segment = PosixShmSegment::open(feed);
  unlink(path.c_str());
  REQUIRE_FALSE(segment);
  CHECK(segment.error().code == ErrorCode::PermissionDenied);
}

TEST_CASE("locks are exclusive between opens and visible to other opens") {
  const auto feed = uniqueFeed("locks");
  FeedGuard guard(feed);
  auto owner = PosixShmSegment::create(feed, 0600);
  REQUIRE(owner);
  auto other = PosixShmSegment::open(feed);
  REQUIRE(other);
  CHECK(*(*owner)->tryLock(0));
  CHECK_FALSE(*(*other)->tryLock(0));
  CHECK(*(*other)->isLockedByOther(0));
  CHECK_FALSE(*(*owner)->isLockedByOther(0));  // its own lock is not another's
  CHECK_FALSE(*(*other)->isLockedByOther(7));
  (*owner)->unlock(0);
  CHECK_FALSE(*(*other)->isLockedByOther(0));
  CHECK(*(*other)->tryLock(0));
}

TEST_CASE("a lock is released when its holder's segment goes away") {
  const auto feed = uniqueFeed("release");
  FeedGuard guard(feed);
  auto owner = PosixShmSegment::create(feed, 0600);
  REQUIRE(owner);
  auto watcher = PosixShmSegment::open(feed);
  REQUIRE(watcher);
  REQUIRE(*(*owner)->tryLock(0));
  CHECK(*(*watcher)->isLockedByOther(0));
  owner->reset();
  CHECK_FALSE(*(*watcher)->isLockedByOther(0));
}

TEST_CASE("unlinkName removes only the segment the name still refers to") {
  const auto feed = uniqueFeed("unlink");
  FeedGuard guard(feed);
  auto first = PosixShmSegment::create(feed, 0600);
  REQUIRE(first);
  CHECK((*first)->isCurrent());
  REQUIRE(PosixShmSegment::unlinkFeed(feed));
  CHECK_FALSE((*first)->isCurrent());
  auto second = PosixShmSegment::create(feed, 0600);
  REQUIRE(second);
  REQUIRE((*first)->unlinkName());  // stale: must leave the new one alone
  CHECK(frameshm::test::segmentExists(feed));
  REQUIRE((*second)->unlinkName());
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("mappings are page aligned and sized, and unmapped with their owner") {
  const auto feed = uniqueFeed("map");
  FeedGuard guard(feed);
  auto segment = PosixShmSegment::create(feed, 0600);
  REQUIRE(segment);
  REQUIRE((*segment)->resize(3 * 4096));
  CHECK(*(*segment)->currentSize() == 3 * 4096);
  CHECK((*segment)->map(100, 4096, Access::ReadOnly).error().code == ErrorCode::InvalidArgument);
  auto rw = (*segment)->map(4096, 8192, Access::ReadWrite);
  REQUIRE(rw);
  CHECK(rw->size() == 8192);
  rw->data()[0] = std::byte{42};
  auto ro = (*segment)->map(0, 3 * 4096, Access::ReadOnly);
  REQUIRE(ro);
  CHECK(ro->data()[4096] == std::byte{42});
}
