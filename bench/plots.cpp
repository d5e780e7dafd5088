// SPDX-License-Identifier: LGPL-2.1-or-later
#include "plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace frameshm::bench {
namespace {

struct Group {
  std::string label{};
  std::vector<double> values{};  // one per series; NaN: not measured
};

struct Chart {
  std::string file{};
  std::string title{};
  std::string unit{};
  std::vector<std::string> series{};
  std::vector<Group> groups{};
  bool logScale = false;
  double reference = NAN;  // a horizontal line (e.g. the semaphore floor)
  std::string referenceLabel{};
};

const cv::Scalar kColors[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214}, {189, 103, 148}};

std::string formatValue(double v) {
  char text[32];
  if (std::fabs(v) >= 100)
    std::snprintf(text, sizeof text, "%.0f", v);
  else if (std::fabs(v) >= 10)
    std::snprintf(text, sizeof text, "%.1f", v);
  else
    std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

bool draw(const Chart& chart, const std::string& path) {
  const int width = std::max(900, 140 + static_cast<int>(chart.groups.size()) * 130), height = 560;
  const int left = 90, right = 20, top = 70, bottom = 110;
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  cv::putText(image, chart.title, {left, 30}, font, 0.7, {0, 0, 0}, 2, cv::LINE_AA);

  double top_value = 0, low = INFINITY;
  for (const Group& g : chart.groups)
    for (double v : g.values)
      if (std::isfinite(v) && v > 0) {
        top_value = std::max(top_value, v);
        low = std::min(low, v);
      }
  if (std::isfinite(chart.reference)) top_value = std::max(top_value, chart.reference);
  if (top_value <= 0) return false;
  const double lo = chart.logScale ? std::pow(10.0, std::floor(std::log10(low))) : 0.0;
  const double hi =
      chart.logScale ? std::pow(10.0, std::ceil(std::log10(top_value * 1.05))) : top_value * 1.15;
  const int plotH = height - top - bottom, plotW = width - left - right;
  auto yOf = [&](double v) {
    double t = chart.logScale
                   ? (std::log10(std::max(v, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                   : v / hi;
    return top + plotH - static_cast<int>(std::lround(t * plotH));
  };

  // Axis, grid lines and their labels.
  std::vector<double> ticks{};
  if (chart.logScale) {
    for (double t = lo; t <= hi * 1.001; t *= 10) ticks.push_back(t);
  } else {
    const double step = std::pow(10.0, std::floor(std::log10(hi / 5)));
    const double nice = hi / step > 25 ? step * 5 : hi / step > 10 ? step * 2 : step;
    for (double t = 0; t <= hi; t += nice) ticks.push_back(t);
  }
  for (double t : ticks) {
    const int y = yOf(t);
    cv::line(image, {left, y}, {width - right, y}, {225, 225, 225}, 1);
    cv::putText(image, formatValue(t), {8, y + 5}, font, 0.45, {60, 60, 60}, 1, cv::LINE_AA);
  }
  cv::line(image, {left, top}, {left, top + plotH}, {0, 0, 0}, 1);
  cv::line(image, {left, top + plotH}, {width - right, top + plotH}, {0, 0, 0}, 1);
  cv::putText(image, chart.unit + (chart.logScale ? " (log scale)" : ""), {left, top - 12}, font, 0.5,
              {60, 60, 60}, 1, cv::LINE_AA);

  const int groupW = plotW / static_cast<int>(std::max<std::size_t>(1, chart.groups.size()));
  const int series = static_cast<int>(std::max<std::size_t>(1, chart.series.size()));
  const int barW = std::max(6, (groupW - 24) / series);
  for (std::size_t g = 0; g < chart.groups.size(); ++g) {
    const int x0 = left + static_cast<int>(g) * groupW + 12;
    for (std::size_t s = 0; s < chart.groups[g].values.size(); ++s) {
      const double v = chart.groups[g].values[s];
      if (!std::isfinite(v)) continue;
      const int x = x0 + static_cast<int>(s) * barW;
      const int y = yOf(std::max(v, chart.logScale ? lo : 0.0));
      cv::rectangle(image, {x, y}, {x + barW - 3, top + plotH}, kColors[s % std::size(kColors)], cv::FILLED);
      const double scale = barW >= 40 ? 0.4 : 0.32;
      cv::putText(image, formatValue(v), {x, y - 4}, font, scale, {30, 30, 30}, 1, cv::LINE_AA);
    }
    // Group labels may be long: split at the first space onto two lines.
    const std::string& label = chart.groups[g].label;
    const auto split = label.find(' ');
    cv::putText(image, label.substr(0, split), {x0, top + plotH + 20}, font, 0.42, {0, 0, 0}, 1, cv::LINE_AA);
    if (split != std::string::npos)
      cv::putText(image, label.substr(split + 1), {x0, top + plotH + 38}, font, 0.42, {0, 0, 0}, 1,
                  cv::LINE_AA);
  }
  if (std::isfinite(chart.reference)) {
    const int y = yOf(chart.reference);
    for (int x = left; x < width - right; x += 12) cv::line(image, {x, y}, {x + 6, y}, {0, 0, 200}, 2);
    cv::putText(image, chart.referenceLabel, {width - right - 330, y - 6}, font, 0.45, {0, 0, 200}, 1,
                cv::LINE_AA);
  }
  // The legend, wrapped onto a second row when it does not fit on one.
  int lx = left, ly = height - 48;
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    int baseline = 0;
    const int textW = cv::getTextSize(chart.series[s], font, 0.45, 1, &baseline).width;
    if (lx + 22 + textW > width - right && lx > left) {
      lx = left;
      ly += 22;
    }
    cv::rectangle(image, {lx, ly - 12}, {lx + 16, ly + 2}, kColors[s % std::size(kColors)], cv::FILLED);
    cv::putText(image, chart.series[s], {lx + 22, ly}, font, 0.45, {0, 0, 0}, 1, cv::LINE_AA);
    lx += 22 + textW + 30;
  }
  return cv::imwrite(path, image);
}

double valueOf(const Report& report, const std::string& scenario, const std::string& id) {
  auto figure = report.find(scenario, id);
  return figure ? figure->value : NAN;
}

std::vector<Chart> chartsFor(const Report& report) {
  std::vector<Chart> charts{};
  const char* sizes[] = {"640x480", "1080p", "4K"};

  Chart throughput{
      "throughput.png",
      "1. Throughput: producer -> 1 reader, verified",
      "MB/s",
      {"frameshm delivered+verified", "frameshm published", "memcpy (1 core)", "stamp check (1 core)"}};
  for (const char* size : sizes)
    for (const char* pf : {"I420", "BGR"}) {
      const std::string id = std::string(size) + "." + pf;
      throughput.groups.push_back({std::string(size) + " " + pf,
                                   {valueOf(report, "throughput", id + ".readerMBps"),
                                    valueOf(report, "throughput", id + ".producerMBps"),
                                    valueOf(report, "throughput", id + ".memcpyMBps"),
                                    valueOf(report, "throughput", id + ".checksumMBps")}});
    }
  charts.push_back(throughput);

  Chart publish{"publish.png",
                "Publish cost per frame, I420 (issue 2)",
                "us per frame",
                {"copy-publish (write)", "memcpy same size", "in-place acquire+publish"}};
  for (const char* size : sizes) {
    const double memcpyMBps = valueOf(report, "publish", std::string(size) + ".memcpyMBps");
    const double copyUs = valueOf(report, "publish", std::string(size) + ".copyUs");
    const double copyMBps = valueOf(report, "publish", std::string(size) + ".copyMBps");
    // memcpy time per frame from its bandwidth and the frame size the copy figure implies.
    const double memcpyUs = copyUs * copyMBps / memcpyMBps;
    publish.groups.push_back(
        {size, {copyUs, memcpyUs, valueOf(report, "publish", std::string(size) + ".inPlaceUs")}});
  }
  publish.logScale = true;
  charts.push_back(publish);

  Chart fanout{"fanout.png",
               "2. Fan-out at 1080p60 I420, producer copies each frame",
               "frames/s, us per frame",
               {"slowest reader fps", "producer CPU us/frame (readers verify)",
                "producer CPU us/frame (readers skip pixels)"}};
  for (int readers : {1, 2, 4, 8}) {
    const std::string id = std::to_string(readers) + "r";
    fanout.groups.push_back(
        {std::to_string(readers) + " reader" + (readers > 1 ? "s" : ""),
         {valueOf(report, "fanout", id + ".minReaderFps"), valueOf(report, "fanout", id + ".producerCpuUs"),
          valueOf(report, "fanout", id + ".producerCpuUsTakeOnly")}});
  }
  charts.push_back(fanout);

  Chart slow{"slowreader.png",
             "3. Beside a 100 ms/frame reader, 1080p60",
             "% of source rate",
             {"normal reader", "producer", "slow reader"}};
  for (const char* who : {"frameshm", "frameshmgst", "shmsink"}) {
    auto share = [&](const char* what) {
      auto figure = report.find("slowreader", std::string(who) + "." + what);
      return figure && std::isfinite(figure->ratio) ? figure->ratio * 100 : NAN;
    };
    const std::string label = std::string(who) == "frameshmgst" ? "frameshmsink/src" : who;
    slow.groups.push_back({label, {share("normalFps"), share("producerFps"), share("slowFps")}});
  }
  charts.push_back(slow);

  Chart latency{"latency.png",
                "4. Publish -> wake of a reader in another process, I420, 60 Hz unless @30",
                "us",
                {"p50", "p99", "max"}};
  latency.logScale = true;
  latency.reference = valueOf(report, "latency", "floor.p50");
  latency.referenceLabel = "semaphore floor p50, 60 Hz (same run)";
  auto floorGroup = [&](const std::string& id, const std::string& label) {
    latency.groups.push_back(
        {label,
         {valueOf(report, "latency", id + ".p50"), valueOf(report, "latency", id + ".p99"),
          valueOf(report, "latency", id + ".max")}});
  };
  floorGroup("floor", "floor 60Hz");
  floorGroup("floorAfterCopy", "floor after-4K-copy");
  for (const char* size : {"640x480", "1080p", "4K", "4K30"}) {
    if (std::string(size) == "4K30") floorGroup("floor30", "floor 30Hz");
    for (const char* mode : {"block", "spin", "poll"}) {
      const std::string id = std::string(size) + "." + mode + ".publishToWake";
      latency.groups.push_back(
          {std::string(size == std::string("4K30") ? "4K@30" : size) + " " + mode,
           {valueOf(report, "latency", id + ".p50"), valueOf(report, "latency", id + ".p99"),
            valueOf(report, "latency", id + ".max")}});
    }
  }
  charts.push_back(latency);

  Chart gst{"gstreamer.png",
            "5. Through GStreamer: appsrc -> appsink latency p50",
            "us",
            {"shmsink copy", "shmsink in place", "frameshm copy", "frameshm in place"}};
  gst.logScale = true;
  for (const char* size : sizes)
    gst.groups.push_back({size,
                          {valueOf(report, "gstreamer", std::string("shm.") + size + ".copy.p50"),
                           valueOf(report, "gstreamer", std::string("shm.") + size + ".inplace.p50"),
                           valueOf(report, "gstreamer", std::string("frameshm.") + size + ".copy.p50"),
                           valueOf(report, "gstreamer", std::string("frameshm.") + size + ".inplace.p50")}});
  gst.reference = valueOf(report, "gstreamer", "sameProcess.p50");
  gst.referenceLabel = "appsrc ! queue ! appsink, same process";
  charts.push_back(gst);

  Chart scale{"scale.png",
              "6. Scale: producer per-frame cost (1080p I420, in place, 60 fps)",
              "us per frame",
              {"publish call", "producer CPU"}};
  for (int readers : {1, 2, 4, 8, 16, 32}) {
    const std::string id = "readers" + std::to_string(readers);
    scale.groups.push_back(
        {std::to_string(readers) + " readers",
         {valueOf(report, "scale", id + ".publishUs"), valueOf(report, "scale", id + ".cpuUs")}});
  }
  for (int slots : {3, 4, 8, 16}) {
    const std::string id = "slots" + std::to_string(slots);
    scale.groups.push_back(
        {std::to_string(slots) + " slots", {valueOf(report, "scale", id + ".publishUs"), NAN}});
  }
  charts.push_back(scale);

  Chart memory{"memory.png", "6. Scale: segment size (1080p I420)", "MB", {"segment size"}};
  for (int readers : {1, 8, 32})
    memory.groups.push_back(
        {std::to_string(readers) + " readers",
         {valueOf(report, "scale", "readers" + std::to_string(readers) + ".segmentBytes") * 1e-6}});
  for (int slots : {3, 4, 8, 16})
    memory.groups.push_back(
        {std::to_string(slots) + " slots",
         {valueOf(report, "scale", "slots" + std::to_string(slots) + ".segmentBytes") * 1e-6}});
  charts.push_back(memory);
  return charts;
}

}  // namespace

std::vector<std::string> writePlots(const Report& report, const std::string& dir) {
  std::vector<std::string> written{};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const Chart& chart : chartsFor(report)) {
    const bool any = std::any_of(chart.groups.begin(), chart.groups.end(), [](const Group& g) {
      return std::any_of(g.values.begin(), g.values.end(), [](double v) { return std::isfinite(v); });
    });
    if (!any) continue;
    const std::string path = dir + "/" + chart.file;
    if (draw(chart, path))
      written.push_back(path);
    else
      std::fprintf(stderr, "frameshm-bench: could not write %s\n", path.c_str());
  }
  return written;
}

}  // namespace frameshm::bench
