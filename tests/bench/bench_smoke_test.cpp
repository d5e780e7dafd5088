// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-bench --smoke: every scenario runs and its JSON is complete and
// sane (figures present and positive, drops counted). Timings are not judged.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include "json_reader.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

std::set<std::string> shmpipeSegments() {
  std::set<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm"))
    if (entry.path().filename().string().rfind("shmpipe.", 0) == 0)
      found.insert(entry.path().filename().string());
  return found;
}

// The figure `id` of `scenario` in the bench's JSON, or null.
frameshm::tools::json::Value figure(const frameshm::tools::json::Value& doc, const std::string& scenario,
                                    const std::string& id) {
  for (const auto& f : doc["scenarios"][scenario]["figures"].array())
    if (f["id"].string() == id) return f;
  return {};
}

}  // namespace

TEST_CASE(
    "frameshm-bench --smoke writes a complete, sane JSON and its plots, and leaves nothing in /dev/shm") {
  frameshm::test::TempDir dir;
  const auto shmBefore = shmpipeSegments();
  auto bench = frameshm::test::Child::spawn(
      {FRAMESHM_BENCH, "--smoke", "--json", dir.file("bench.json"), "--plots", dir.file("plots")}, {},
      dir.file("out"), dir.file("err"));
  const pid_t pid = bench.pid();
  REQUIRE(bench.wait(170s) == 0);
  INFO(frameshm::test::readFile(dir.file("err")));

  auto doc = frameshm::tools::json::parse(frameshm::test::readFile(dir.file("bench.json")));
  REQUIRE(doc);
  CHECK((*doc)["mode"].string() == "smoke");
  CHECK(!(*doc)["command"].string().empty());
  CHECK((*doc)["loadAverageBefore"].array().size() == 3);

  for (const char* scenario :
       {"throughput", "publish", "fanout", "slowreader", "latency", "scale", "gstreamer"}) {
    INFO(scenario);
    CHECK(!(*doc)["scenarios"][scenario]["figures"].array().empty());
  }
  auto positive = [&](const std::string& scenario, const std::string& id) {
    INFO(scenario << " " << id);
    const auto f = figure(*doc, scenario, id);
    REQUIRE(f.isObject());
    CHECK(f["value"].number() > 0);
    CHECK(!f["unit"].string().empty());
  };
  auto counted = [&](const std::string& scenario, const std::string& id) {
    INFO(scenario << " " << id);
    const auto f = figure(*doc, scenario, id);
    REQUIRE(f.isObject());
    CHECK(f["value"].isNumber());
    CHECK(f["value"].number() >= 0);
  };
  for (const char* size : {"640x480", "1080p", "4K"}) {
    for (const char* pf : {"I420", "BGR"}) {
      const std::string id = std::string(size) + "." + pf;
      positive("throughput", id + ".readerFps");
      positive("throughput", id + ".readerMBps");
      positive("throughput", id + ".memcpyMBps");
      counted("throughput", id + ".dropped");
      counted("throughput", id + ".torn");
      // A wrong stamp on an accepted frame would be a transport bug.
      CHECK(figure(*doc, "throughput", id + ".badStamp")["value"].number() == 0);
    }
    positive("publish", std::string(size) + ".copyMBps");
    positive("publish", std::string(size) + ".inPlaceUs");
    for (const char* mode : {"block", "spin", "poll"}) {
      positive("latency", std::string(size) + "." + mode + ".publishToWake.p50");
      positive("latency", std::string(size) + "." + mode + ".captureToWake.p99");
      counted("latency", std::string(size) + "." + mode + ".drops");
    }
  }
  positive("latency", "floor.p50");
  CHECK(std::isfinite(figure(*doc, "latency", "1080p.block.publishToWake.p50")["ratio"].number()));
  for (const char* readers : {"1r", "2r", "4r", "8r"}) {
    positive("fanout", std::string(readers) + ".minReaderFps");
    positive("fanout", std::string(readers) + ".producerCpuUs");
    counted("fanout", std::string(readers) + ".drops");
  }
  positive("slowreader", "frameshm.normalFps");
  positive("slowreader", "frameshm.slowFps");
  counted("slowreader", "frameshm.normalDrops");
  positive("slowreader", "shmsink.normalFps");
  positive("gstreamer", "shm.throughput.copy");
  positive("gstreamer", "shm.1080p.copy.p50");
  positive("scale", "readers32.cpuUs");
  positive("scale", "slots16.segmentBytes");
  CHECK(figure(*doc, "scale", "slots16.segmentBytes")["value"].number() >
        figure(*doc, "scale", "slots3.segmentBytes")["value"].number());
  CHECK(!(*doc)["targets"].array().empty());

  for (const char* plot : {"throughput.png", "latency.png", "fanout.png", "scale.png"})
    CHECK(std::filesystem::file_size(dir.file(std::string("plots/") + plot)) > 1000);

  for (const auto& segment : frameshm::test::segmentsWithPrefix("bench-"))
    CHECK(segment.find("-" + std::to_string(pid) + "-") == std::string::npos);
  std::set<std::string> left;
  for (const auto& name : shmpipeSegments())
    if (!shmBefore.count(name)) left.insert(name);
  CHECK(left.empty());
}

TEST_CASE("frameshm-bench rejects a bad flag with exit 2 and one line") {
  frameshm::test::TempDir dir;
  auto bench = frameshm::test::Child::spawn({FRAMESHM_BENCH, "--only", "nonsense"}, {}, dir.file("out"),
                                            dir.file("err"));
  CHECK(bench.wait(30s) == 2);
  const auto err = frameshm::test::readFile(dir.file("err"));
  CHECK(err.find("nonsense") != std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
}
