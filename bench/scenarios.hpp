// SPDX-License-Identifier: LGPL-2.1-or-later
// bench/scenarios.hpp — the scenarios frameshm-bench runs, each adding its figures to a Report.
//
// Scenarios 1-4 and 6 (and the publish costs of issue 2) use the C++ library
// with forked producer and reader processes; scenario 5 runs GStreamer
// pipelines (shmsink/shmsrc and, when the plugin is built, frameshmsink/frameshmsrc).
//
//   frameshm::bench::Config config{.phaseSeconds = 1.0, .latencySeconds = 1.5};
//   frameshm::bench::Report report;
//   frameshm::bench::runThroughput(config, report);
#pragma once

#include <string>

#include "report.hpp"

namespace frameshm::bench {

struct Config {
  double phaseSeconds = 4.0;     // measuring time of one throughput/fan-out/scale phase
  double latencySeconds = 10.0;  // measuring time of one latency series
  double warmupSeconds = 0.5;    // run before measuring, so readers are attached and caches warm
  int spinUs = 300;              // ConsumerOptions::spin for the spin-then-block series
  bool smoke = false;            // shortest run: checks the bench works, not the figures
  std::string pluginDir{};       // where libgstframeshm.so is ("" : not available)
  std::string gstHelper{};       // the appsrc->appsink latency helper program
  double recorderSeconds = 0;    // measuring time of the recorder scenario (0: 2 x phaseSeconds)
};

void runThroughput(const Config& config, Report& report);  // 1, and issue 2's copy/in-place publish
void runFanout(const Config& config, Report& report);      // 2
void runSlowReader(const Config& config, Report& report);  // 3 (frameshm side)
void runLatency(const Config& config, Report& report);     // 4
void runGstSlowReader(const Config& config,
                      Report& report);  // 3 and 5: the slow reader through both GStreamer pairs
void runGstreamer(const Config& config, Report& report);  // 5: throughput ratio and appsrc->appsink latency
void runScale(const Config& config, Report& report);      // 6
// Issue 16: a sequential recorder beside a slow viewer.
void runRecorder(const Config& config, Report& report);

// Checks the figures against the project's goals and adds the Targets.
void judgeTargets(Report& report);

}  // namespace frameshm::bench
