// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-bench --smoke: every scenario runs and its JSON is complete and
// sane (figures present and positive, drops counted). Timings are not judged.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

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

using Json = nlohmann::json;

// The figures of `scenario` in the bench's JSON, empty if it has none.
Json figures(const Json& doc, const std::string& scenario) {
  const Json::json_pointer at("/scenarios/" + scenario + "/figures");
  return doc.contains(at) && doc[at].is_array() ? doc[at] : Json::array();
}

// The figure `id` of `scenario` in the bench's JSON, or null.
Json figure(const Json& doc, const std::string& scenario, const std::string& id) {
  for (const auto& f : figures(doc, scenario))
    if (f.value("id", std::string()) == id) return f;
  return nullptr;
}

// The number `key` of the object `j`, NaN if it has none.
double number(const Json& j, const std::string& key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
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

  const Json doc = Json::parse(frameshm::test::readFile(dir.file("bench.json")), nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc.value("mode", std::string()) == "smoke");
  CHECK(!doc.value("command", std::string()).empty());
  CHECK(doc.value("loadAverageBefore", nlohmann::json::array()).size() == 3);

  for (const char* scenario :
       {"throughput", "publish", "fanout", "slowreader", "latency", "scale", "gstreamer", "recorder"}) {
    INFO(scenario);
    CHECK(!figures(doc, scenario).empty());
  }
  auto positive = [&](const std::string& scenario, const std::string& id) {
    INFO(scenario << " " << id);
    const auto f = figure(doc, scenario, id);
    REQUIRE(f.is_object());
    CHECK(number(f, "value") > 0);
    CHECK(!f.value("unit", std::string()).empty());
  };
  auto counted = [&](const std::string& scenario, const std::string& id) {
    INFO(scenario << " " << id);
    const auto f = figure(doc, scenario, id);
    REQUIRE(f.is_object());
    CHECK(std::isfinite(number(f, "value")));
    CHECK(number(f, "value") >= 0);
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
      CHECK(number(figure(doc, "throughput", id + ".badStamp"), "value") == 0);
    }
    positive("publish", std::string(size) + ".copyMBps");
    positive("publish", std::string(size) + ".inPlaceUs");
    for (const char* mode : {"block", "spin", "poll"}) {
      positive("latency", std::string(size) + "." + mode + ".publishToWake.p50");
      positive("latency", std::string(size) + "." + mode + ".captureToWake.p99");
      counted("latency", std::string(size) + "." + mode + ".drops");
    }
    // The library's read path in a plain process, beside a bare waiter's.
    positive("latency", std::string(size) + ".block.readerCpuUs");
    positive("latency", std::string(size) + ".spin.readerCpuUs");
  }
  positive("latency", "floor.p50");
  positive("latency", "floor.waiterCpuUs");
  positive("latency", "floor30.waiterCpuUs");
  CHECK(std::isfinite(number(figure(doc, "latency", "1080p.block.readerCpuUs"), "ratio")));
  CHECK(std::isfinite(number(figure(doc, "latency", "1080p.block.publishToWake.p50"), "ratio")));
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
  // frameshm's side needs the plugin to load, which an ASan build's does only
  // with the runtime preloaded (scripts/test.sh's plugin pass); without it the
  // bench says so and measures shmsink's side alone.
  if (figure(doc, "gstreamer", "frameshm.1080p.copy.p50").is_object()) {
    // frameshm's sink -> source stage split by frameshmsrc's own frame times.
    for (const char* stage : {"sinkToPublish", "publishToTaken", "takenToCreated"})
      positive("gstreamer", std::string("frameshm.1080p.copy.sourceStage.") + stage + ".p50");
  } else {
    const Json notes = doc["scenarios"]["gstreamer"].value("notes", Json::array());
    CHECK(std::any_of(notes.begin(), notes.end(), [](const Json& note) {
      return note.is_string() &&
             note.get<std::string>().find("frameshmsrc not available") != std::string::npos;
    }));
  }
  positive("scale", "readers32.cpuUs");
  positive("scale", "readers64.cpuUs");
  // The floors measured beside the goals (bench/floors.hpp).
  for (const char* waiters : {"1", "32", "64"})
    positive("scale", std::string("bareWake") + waiters + ".cpuUs");
  positive("publish", "640x480.copyWakeMBps");
  positive("fanout", "8r.bareCopyCpuUs");
  positive("gstreamer", "floor.futexWaiter.60");
  positive("gstreamer", "floor.socketWaiter.60");
  positive("gstreamer", "floor.gstSource.60");
  positive("gstreamer", "pacedCopy.1080p.p50");
  positive("publish", "1080p.meta4kSetUs");
  positive("recorder", "recordedPercent");
  positive("recorder", "producerFps");
  positive("scale", "slots16.segmentBytes");
  CHECK(number(figure(doc, "scale", "slots16.segmentBytes"), "value") >
        number(figure(doc, "scale", "slots3.segmentBytes"), "value"));
  CHECK(!doc.value("targets", Json::array()).empty());

  for (const char* plot : {"throughput.png", "latency.png", "fanout.png", "scale.png"})
    CHECK(std::filesystem::file_size(dir.file(std::string("plots/") + plot)) > 1000);

  // Built by appending: GCC 12's -O3 reports a false -Wrestrict for "-" + std::to_string(...).
  std::string ours = "-";
  ours.append(std::to_string(pid)).append("-");
  for (const auto& segment : frameshm::test::segmentsWithPrefix("bench-"))
    CHECK(segment.find(ours) == std::string::npos);
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

TEST_CASE(
    "frameshm-bench --replot prints a saved run's table and draws its charts, and exits 2 on another file") {
  frameshm::test::TempDir dir;
  auto replot = frameshm::test::Child::spawn(
      {FRAMESHM_BENCH, "--replot", FRAMESHM_SAVED_RUN, "--plots", dir.file("plots")}, {}, dir.file("out"),
      dir.file("err"));
  REQUIRE(replot.wait(120s) == 0);
  const auto out = frameshm::test::readFile(dir.file("out"));
  INFO(out << frameshm::test::readFile(dir.file("err")));
  CHECK(out.find("== throughput ==") != std::string::npos);
  CHECK(out.find("== targets ==") != std::string::npos);
  for (const char* plot :
       {"throughput", "publish", "fanout", "slowreader", "latency", "gstreamer", "scale", "memory"}) {
    INFO(plot);
    CHECK(out.find(dir.file(std::string("plots/") + plot + ".png")) != std::string::npos);
    CHECK(std::filesystem::file_size(dir.file(std::string("plots/") + plot + ".png")) > 1000);
  }

  std::ofstream(dir.file("other.json")) << "{\"feeds\": []}\n";
  auto refused = frameshm::test::Child::spawn({FRAMESHM_BENCH, "--replot", dir.file("other.json")}, {},
                                              dir.file("out2"), dir.file("err2"));
  CHECK(refused.wait(30s) == 2);
  const auto err = frameshm::test::readFile(dir.file("err2"));
  CHECK(err.find("is not a JSON file written by frameshm-bench") != std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
}
