// SPDX-License-Identifier: LGPL-2.1-or-later
// cli/cli_parse.hpp in process: the one parse step every program uses (go on,
// 0 after --help, 2 after a mistake) and validators with the program's own words.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cli_parse.hpp"

namespace {

// Parses `args` (after the program name) into an App with one positive --width.
std::optional<int> parseWidth(std::vector<std::string> args, int& width) {
  CLI::App app{"test program", "frameshm-test"};
  app.add_option("--width", width)->check(frameshm::cli::explained(CLI::PositiveNumber, "must be positive"));
  args.insert(args.begin(), "frameshm-test");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return frameshm::cli::parse(app, static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("cli::parse goes on after a good command line, exits 0 after --help and 2 after a mistake") {
  int width = 0;
  CHECK_FALSE(parseWidth({"--width", "640"}, width).has_value());
  CHECK(width == 640);
  CHECK(parseWidth({"--help"}, width) == 0);
  CHECK(parseWidth({"--bogus"}, width) == frameshm::cli::kExitUsage);
  CHECK(parseWidth({"--width", "wide"}, width) == frameshm::cli::kExitUsage);
  CHECK(parseWidth({"--width", "0"}, width) == frameshm::cli::kExitUsage);
  CHECK(width == 640);
}

TEST_CASE("cli::explained passes what its check passes and tells a failure in its own words") {
  const auto process =
      frameshm::cli::explained(CLI::IsMember({"none", "gray"}), "'{}' is not one of none, gray");
  CHECK(process(std::string("gray")).empty());
  CHECK(process(std::string("sharpen")) == "'sharpen' is not one of none, gray");
  const auto positive = frameshm::cli::explained(CLI::PositiveNumber, "must be positive");
  CHECK(positive(std::string("3")).empty());
  CHECK(positive(std::string("0")) == "must be positive");
  CHECK(positive(std::string("-2")) == "must be positive");
}
