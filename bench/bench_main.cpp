// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-bench: the transport's performance, measured in one run on this machine.
//
//   frameshm-bench --quick --json /tmp/bench.json --plots /tmp/plots
//   frameshm-bench --json docs/bench/bench.json --plots docs/bench      # the full run for the README
//
// The charts are drawn by bench/plot.py (matplotlib) from the run's JSON.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "cli_parse.hpp"
#include "frameshm/clock.hpp"
#include "harness.hpp"
#include "scenarios.hpp"
#include "test_support.hpp"

namespace {

const std::vector<std::string> kScenarios = {"throughput", "fanout", "slowreader", "latency",
                                             "gstreamer",  "scale",  "recorder"};

std::filesystem::path selfDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path();
}

// Where libgstframeshm.so was built: next to this build's plugins/ folder, or as given.
std::string findPluginDir(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("FRAMESHM_GST_PLUGIN_DIR")) return env;
  const auto candidate = selfDir().parent_path() / "plugins";
  return std::filesystem::exists(candidate / "libgstframeshm.so") ? candidate.string() : std::string{};
}

std::string machineLine() {
  utsname name{};
  uname(&name);
  std::string cpu;
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  return std::string(name.sysname) + " " + name.release + ", " +
         std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs, " + cpu;
}

// The figures and notes of a JSON file this program wrote, or nullopt if it cannot be read.
std::optional<frameshm::bench::Report> readReport(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return std::nullopt;
  return frameshm::bench::Report::parse(text.str());
}

// plot.py: installed beside the program (../share/frameshm), or in the source tree it was built from.
std::string plotScript() {
  const auto installed = selfDir().parent_path() / "share" / "frameshm" / "plot.py";
  return std::filesystem::exists(installed) ? installed.string() : std::string(FRAMESHM_PLOT_SCRIPT);
}

// Draws the charts of the run in `jsonPath` into `dir` with plot.py (Debian's
// python3 and matplotlib). False, with a message, if it could not.
bool drawPlots(const std::string& jsonPath, const std::string& dir) {
  auto plot = frameshm::test::Child::spawn({"/usr/bin/python3", plotScript(), jsonPath, dir});
  const int code = plot.wait(std::chrono::minutes(2));
  if (code == 0) return true;
  std::fprintf(stderr, "frameshm-bench: drawing the charts failed (/usr/bin/python3 %s, exit %d)\n",
               plotScript().c_str(), code);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "frameshm-bench: throughput, fan-out, slow reader, latency, GStreamer and scale of frameshm, "
      "with real processes, against memcpy, a bare semaphore and shmsink/shmsrc measured in the same run",
      "frameshm-bench"};
  bool quick = false, smoke = false;
  std::string jsonPath, plotDir, pluginDir, replotPath;
  std::vector<std::string> only;
  int spinUs = 300;
  app.add_flag("--quick", quick, "short phases: a few minutes for everything (the GStreamer scenario about three)");
  app.add_flag("--smoke", smoke,
               "shortest phases (a few seconds each scenario): checks the bench, not the figures");
  app.add_option("--json", jsonPath, "write every figure as JSON to this file");
  app.add_option("--plots", plotDir, "draw PNG charts into this directory (bench/plot.py, matplotlib)");
  app.add_option("--replot", replotPath,
                 "measure nothing: print the table and draw --plots from this JSON of a run")
      ->check(CLI::ExistingFile);
  app.add_option("--only", only, "run only these scenarios")
      ->check(CLI::IsMember(kScenarios))
      ->delimiter(',');
  app.add_option("--spin-us", spinUs, "spin window of the spin-then-block reader, microseconds")
      ->check(CLI::Range(1, 100000));
  double recorderSeconds = 0;
  app.add_option(
         "--recorder-seconds", recorderSeconds,
         "measuring time of the recorder scenario (default: twice a phase; 600 for the 10-minute figure)")
      ->check(CLI::PositiveNumber);
  app.add_option("--plugin-dir", pluginDir,
                 "directory holding libgstframeshm.so (default: this build's plugins/)")
      ->check(CLI::ExistingDirectory);
  if (auto code = frameshm::cli::parse(app, argc, argv)) return *code;

  if (!replotPath.empty()) {
    auto report = readReport(replotPath);
    if (!report) {
      std::fprintf(stderr, "frameshm-bench: %s is not a JSON file written by frameshm-bench --json\n",
                   replotPath.c_str());
      return 2;
    }
    frameshm::bench::judgeTargets(*report);
    report->printTable(stdout);
    std::fflush(stdout);
    return plotDir.empty() || drawPlots(replotPath, plotDir) ? 0 : 1;
  }

  frameshm::bench::Config config;
  if (quick) config = {.phaseSeconds = 0.8, .latencySeconds = 1.2, .warmupSeconds = 0.3};
  if (smoke) config = {.phaseSeconds = 0.25, .latencySeconds = 0.3, .warmupSeconds = 0.1, .smoke = true};
  config.spinUs = spinUs;
  config.recorderSeconds = recorderSeconds;
  config.pluginDir = findPluginDir(pluginDir);
  config.gstHelper = (selfDir() / "frameshm-bench-gst").string();

  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];
  const std::set<std::string> chosen(only.begin(), only.end());
  auto wanted = [&](const std::string& name) { return chosen.empty() || chosen.count(name); };

  const auto loadBefore = frameshm::bench::loadAverage();
  const std::int64_t start = frameshm::monotonicNs();
  frameshm::bench::Report report;
  if (wanted("throughput")) frameshm::bench::runThroughput(config, report);
  if (wanted("fanout")) frameshm::bench::runFanout(config, report);
  if (wanted("slowreader")) {
    frameshm::bench::runSlowReader(config, report);
    frameshm::bench::runGstSlowReader(config, report);
  }
  if (wanted("latency")) frameshm::bench::runLatency(config, report);
  if (wanted("gstreamer")) frameshm::bench::runGstreamer(config, report);
  if (wanted("scale")) frameshm::bench::runScale(config, report);
  if (wanted("recorder")) frameshm::bench::runRecorder(config, report);
  frameshm::bench::judgeTargets(report);
  const double wall = static_cast<double>(frameshm::monotonicNs() - start) * 1e-9;
  const auto loadAfter = frameshm::bench::loadAverage();

  report.printTable(stdout);
  std::printf("\nload average before %.2f %.2f %.2f, after %.2f %.2f %.2f; %.0f s\n", loadBefore[0],
              loadBefore[1], loadBefore[2], loadAfter[0], loadAfter[1], loadAfter[2], wall);
  int status = 0;
  // The charts are drawn from the JSON: a temporary one if --json was not asked for.
  std::optional<frameshm::test::TempDir> scratch;
  if (jsonPath.empty() && !plotDir.empty()) jsonPath = scratch.emplace().file("bench.json");
  if (!jsonPath.empty()) {
    const std::map<std::string, std::string> context = {
        {"command", command.str()},
        {"mode", smoke   ? "smoke"
                 : quick ? "quick"
                         : "full"},
        {"machine", machineLine()},
        {"measuredAt", std::to_string(frameshm::realtimeNs() / 1'000'000'000)},
        {"frameshmPlugin", config.pluginDir.empty() ? "not built" : config.pluginDir}};
    std::ofstream out(jsonPath);
    out << report.json(context, loadBefore, loadAfter, wall);
    out.close();
    if (!out) {
      std::fprintf(stderr, "frameshm-bench: cannot write %s\n", jsonPath.c_str());
      return 1;
    }
  }
  std::fflush(stdout);
  if (!plotDir.empty() && !drawPlots(jsonPath, plotDir)) status = 1;
  return status;
}
