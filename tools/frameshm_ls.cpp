// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-ls: the frameshm feeds of this machine, like ipcs for shared memory.
//
//   frameshm-ls                 # table of every feed, its producer and readers
//   frameshm-ls --json cam0     # one feed, as JSON
//   frameshm-ls --clean         # also remove segments whose producer died
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "frameshm/feeds.hpp"
#include "json_writer.hpp"

namespace {

struct Listed {
  frameshm::FeedInfo info;
  bool removed = false;
  std::string removeError{};
};

std::string formatText(const frameshm::FeedInfo& feed) {
  return feed.valid ? frameshm::describe(feed.format) : "-";
}

const char* status(const Listed& feed) {
  if (feed.removed) return "removed";
  if (feed.info.stale) return "stale";
  if (!feed.info.valid) return "invalid";
  return frameshm::toString(feed.info.state);
}

void printTable(const std::vector<Listed>& feeds) {
  if (feeds.empty()) {
    std::printf("no frameshm feeds\n");
    return;
  }
  std::printf("%-28s %-8s %-6s %-9s %-24s %5s %10s %8s %7s\n", "FEED", "PID", "ALIVE", "STATE", "FORMAT",
              "SLOTS", "FRAMES", "FPS", "READERS");
  for (const Listed& feed : feeds) {
    const auto& f = feed.info;
    std::printf("%-28s %-8u %-6s %-9s %-24s %5u %10llu %8.2f %7zu\n", f.name.c_str(), f.producerPid,
                f.producerAlive ? "yes" : "no", status(feed), formatText(f).c_str(), f.slotCount,
                static_cast<unsigned long long>(f.framesPublished), f.rateHz, f.readers.size());
    if (!f.valid && !f.problem.empty()) std::printf("  problem: %s\n", f.problem.c_str());
    if (!feed.removeError.empty()) std::printf("  not removed: %s\n", feed.removeError.c_str());
    for (const auto& r : f.readers)
      std::printf("  reader %-3u pid %-8u %-5s read %llu dropped %llu torn %llu\n", r.index, r.pid,
                  r.alive ? "alive" : "dead", static_cast<unsigned long long>(r.framesRead),
                  static_cast<unsigned long long>(r.framesDropped),
                  static_cast<unsigned long long>(r.framesTorn));
  }
}

void printJson(const std::vector<Listed>& feeds) {
  frameshm::tools::JsonWriter json;
  json.beginObject().key("feeds").beginArray();
  for (const Listed& feed : feeds) {
    const auto& f = feed.info;
    json.beginObject();
    json.key("name").value(f.name);
    json.key("valid").value(f.valid);
    if (!f.problem.empty()) json.key("problem").value(f.problem);
    json.key("state").value(f.valid ? frameshm::toString(f.state) : "unknown");
    json.key("stale").value(f.stale);
    json.key("removed").value(feed.removed);
    if (!feed.removeError.empty()) json.key("removeError").value(feed.removeError);
    json.key("producerPid").value(f.producerPid);
    json.key("producerAlive").value(f.producerAlive);
    if (f.valid) {
      json.key("format").value(frameshm::toString(f.format.pixelFormat));
      json.key("width").value(f.format.width);
      json.key("height").value(f.format.height);
      json.key("rate").value(std::to_string(f.format.rate.num) + "/" + std::to_string(f.format.rate.den));
      json.key("frameSize").value(f.format.frameSize);
      json.key("caps").value(f.caps);
    }
    json.key("slots").value(f.slotCount);
    json.key("readerCapacity").value(f.readerCapacity);
    json.key("framesPublished").value(f.framesPublished);
    json.key("fps").value(f.rateHz);
    json.key("segmentBytes").value(f.segmentBytes);
    json.key("generation").value(f.generation);
    json.key("readers").beginArray();
    for (const auto& r : f.readers) {
      json.beginObject();
      json.key("index").value(r.index);
      json.key("pid").value(r.pid);
      json.key("alive").value(r.alive);
      json.key("framesRead").value(r.framesRead);
      json.key("framesDropped").value(r.framesDropped);
      json.key("framesTorn").value(r.framesTorn);
      json.endObject();
    }
    json.endArray();
    json.endObject();
  }
  json.endArray().endObject();
  std::printf("%s\n", json.str().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "frameshm-ls: list the frameshm feeds of this machine (name, producer, format, slots, frames, "
      "rate, readers), mark stale ones and optionally remove them"};
  bool asJson = false, clean = false;
  std::vector<std::string> names;
  app.add_flag("--json", asJson, "print JSON instead of a table");
  app.add_flag("--clean", clean, "remove segments whose producer is dead (never a live feed)");
  app.add_option("feeds", names, "only these feeds (default: all)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "frameshm-ls: %s (see --help)\n", e.what());
    return 2;
  }

  std::vector<Listed> feeds;
  if (names.empty()) {
    for (auto& info : frameshm::listFeeds()) feeds.push_back({std::move(info)});
  } else {
    for (const auto& name : names) {
      auto info = frameshm::inspectFeed(name);
      if (!info) {
        std::fprintf(stderr, "frameshm-ls: %s\n", info.error().message.c_str());
        return 2;
      }
      feeds.push_back({std::move(*info)});
    }
  }
  if (clean) {
    for (Listed& feed : feeds) {
      if (!feed.info.stale) continue;
      auto removed = frameshm::removeIfStale(feed.info.name);
      if (removed)
        feed.removed = *removed;
      else
        feed.removeError = removed.error().message;
    }
  }
  if (asJson)
    printJson(feeds);
  else
    printTable(feeds);
  return 0;
}
