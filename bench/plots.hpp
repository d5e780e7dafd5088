// SPDX-License-Identifier: LGPL-2.1-or-later
// bench/plots.hpp — the bench's figures drawn as PNG bar charts with OpenCV.
//
// One chart per scenario, written into a directory: grouped bars with a
// legend, values printed on the bars, a log scale where figures span decades
// (latency). Only OpenCV's drawing functions are used: no plotting library.
//
//   frameshm::bench::writePlots(report, "docs/bench");
#pragma once

#include <string>
#include <vector>

#include "report.hpp"

namespace frameshm::bench {

// Writes <dir>/<scenario>.png for every scenario with figures. Returns the
// files written; a scenario whose chart cannot be written is reported on stderr.
std::vector<std::string> writePlots(const Report& report, const std::string& dir);

}  // namespace frameshm::bench
