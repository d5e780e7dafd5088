// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-ls: the frameshm feeds of this machine, like ipcs for shared memory.
//
//   frameshm-ls                 # table of every feed, its producer and readers
//   frameshm-ls --json cam0     # one feed, as JSON
//   frameshm-ls --clean         # also remove what dead producers left (POSIX files, path sockets)
//
// Every backend is listed: a feed is found by its socket (abstract names in
// /proc/net/unix, path sockets in FRAMESHM_SOCKET_DIR or --socket-dir), and
// a dead POSIX producer by its file in /dev/shm. Names and messages are
// printed escaped: a hostile name cannot put escapes on the terminal.
#include "cli_parse.hpp"
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frameshm/feeds.hpp"

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
  std::printf("%-28s %-8s %-6s %-7s %-9s %-24s %5s %10s %8s %7s\n", "FEED", "PID", "ALIVE", "BACKEND",
              "STATE", "FORMAT", "SLOTS", "FRAMES", "FPS", "READERS");
  for (const Listed& feed : feeds) {
    const auto& f = feed.info;
    std::printf("%-28s %-8u %-6s %-7s %-9s %-24s %5u %10llu %8.2f %7zu\n", f.name.c_str(), f.producerPid,
                f.producerAlive ? "yes" : "no", frameshm::toString(f.backend), status(feed),
                formatText(f).c_str(), f.slotCount, static_cast<unsigned long long>(f.framesPublished),
                f.rateHz, f.readers.size());
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
  auto list = nlohmann::json::array();
  for (const Listed& feed : feeds) {
    const auto& f = feed.info;
    nlohmann::json entry{{"name", f.name},
                         {"address", f.address},
                         {"backend", frameshm::toString(f.backend)},
                         {"valid", f.valid},
                         {"state", f.valid ? frameshm::toString(f.state) : "unknown"},
                         {"stale", f.stale},
                         {"removed", feed.removed},
                         {"producerPid", f.producerPid},
                         {"producerAlive", f.producerAlive}};
    if (!f.problem.empty()) entry["problem"] = f.problem;
    if (!feed.removeError.empty()) entry["removeError"] = feed.removeError;
    if (f.valid) {
      entry["format"] = frameshm::toString(f.format.pixelFormat);
      entry["width"] = f.format.width;
      entry["height"] = f.format.height;
      entry["rate"] = std::to_string(f.format.rate.num) + "/" + std::to_string(f.format.rate.den);
      entry["frameSize"] = f.format.frameSize;
      entry["caps"] = f.caps;
    }
    entry["slots"] = f.slotCount;
    entry["readerCapacity"] = f.readerCapacity;
    entry["framesPublished"] = f.framesPublished;
    entry["fps"] = f.rateHz;
    entry["segmentBytes"] = f.segmentBytes;
    entry["generation"] = f.generation;
    auto readers = nlohmann::json::array();
    for (const auto& r : f.readers)
      readers.push_back({{"index", r.index},
                         {"pid", r.pid},
                         {"alive", r.alive},
                         {"framesRead", r.framesRead},
                         {"framesDropped", r.framesDropped},
                         {"framesTorn", r.framesTorn}});
    entry["readers"] = std::move(readers);
    list.push_back(std::move(entry));
  }
  // Invalid UTF-8 in a hostile name or caps string is replaced, never thrown on.
  std::printf("%s\n", nlohmann::json{{"feeds", std::move(list)}}
                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                          .c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "frameshm-ls: list the frameshm feeds of this machine (name, producer, format, slots, frames, "
      "rate, readers), mark stale ones and optionally remove them",
      "frameshm-ls"};
  bool asJson = false, clean = false;
  std::vector<std::string> names;
  app.add_flag("--json", asJson, "print JSON instead of a table");
  std::string socketDir;
  app.add_flag("--clean", clean,
               "remove what dead producers left: POSIX files, path sockets (never a live feed)");
  app.add_option("--socket-dir", socketDir, "look for path sockets here (default: $FRAMESHM_SOCKET_DIR)");
  app.add_option("feeds", names, "only these feeds (default: all)");
  if (auto code = frameshm::cli::parse(app, argc, argv)) return *code;

  std::vector<Listed> feeds;
  if (names.empty()) {
    for (auto& info : frameshm::listFeeds(socketDir)) feeds.push_back({std::move(info)});
  } else {
    for (const auto& name : names) {
      auto info = frameshm::inspectFeed(name, socketDir);
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
      auto removed = frameshm::removeIfStale(feed.info.name, socketDir);
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
