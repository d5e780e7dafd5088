// SPDX-License-Identifier: LGPL-2.1-or-later
// bench/report.hpp — the figures frameshm-bench measured, as a table and as JSON (nlohmann/json).
//
// Each scenario adds Figures (a value with its unit and, where it has one, its
// ratio to a reference measured in the same run: memcpy, the semaphore floor,
// shmsink, the source rate) and Targets (a goal and whether it was met).
//
//   frameshm::bench::Report report;
//   report.add({"latency", "1080p.block.p50", "1080p60 blocking wake p50", 61.0, "us", 1.02, "floor"});
//   report.printTable(stdout);
//   std::string json = report.json(context);
#pragma once

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace frameshm::bench {

struct Figure {
  std::string scenario{};  // "throughput", "fanout", ...
  std::string id{};        // unique within the scenario, e.g. "1080p.I420.fps"
  std::string label{};     // what a person reads in the table
  double value = 0;
  std::string unit{};     // "frames/s", "MB/s", "us", "%", "bytes", ...
  double ratio = NAN;     // value / reference, when there is a reference
  std::string ratioOf{};  // what the ratio is to: "memcpy", "floor", "shmsink", ...
};

struct Target {
  std::string name{};  // "copy throughput vs memcpy"
  std::string goal{};  // ">= 0.80"
  double value = NAN;  // the measured figure the goal is about
  bool met = false;
  std::string note{};  // why, when missed
};

class Report {
 public:
  void add(Figure figure) { figures_.push_back(std::move(figure)); }
  void addTarget(Target target) { targets_.push_back(std::move(target)); }
  // A note for a scenario (e.g. "frameshm plugin not built: shmsink side only").
  void note(const std::string& scenario, std::string text) { notes_[scenario].push_back(std::move(text)); }

  // The figure `id` of `scenario`, if measured.
  [[nodiscard]] std::optional<Figure> find(const std::string& scenario, const std::string& id) const;
  [[nodiscard]] const std::vector<Figure>& figures() const noexcept { return figures_; }
  [[nodiscard]] const std::vector<Target>& targets() const noexcept { return targets_; }

  // The human table: one line per figure, grouped by scenario, then the targets.
  void printTable(std::FILE* out) const;
  // Everything as one JSON document; `context` adds top-level string members
  // (command, mode, machine, load average...).
  [[nodiscard]] std::string json(const std::map<std::string, std::string>& context,
                                 const std::vector<double>& loadBefore, const std::vector<double>& loadAfter,
                                 double wallSeconds) const;
  // The figures and notes of a document json() wrote (targets are judged
  // again), or nullopt if `text` is not one.
  [[nodiscard]] static std::optional<Report> parse(const std::string& text);

 private:
  std::vector<Figure> figures_;
  std::vector<Target> targets_;
  std::map<std::string, std::vector<std::string>> notes_;
};

}  // namespace frameshm::bench
