// SPDX-License-Identifier: LGPL-2.1-or-later
// cli_parse.hpp — the one CLI11 parse step of every frameshm program.
//
// All of frameshm's programs (producer, consumer, frameshm-ls, the bench and
// its GStreamer helper) treat their command line alike: --help prints the
// help and exits 0, a mistake is one line on stderr and exit code 2.
//
//   CLI::App app{"frameshm-ls: list the feeds", "frameshm-ls"};
//   app.add_flag("--json", asJson, "print JSON");
//   if (auto code = frameshm::cli::parse(app, argc, argv)) return *code;
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

namespace frameshm::cli {

// Exit codes of the programs: 0 done, 1 failed while running, 2 bad input or setup.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

// Parses the command line. Returns nullopt to go on, or the code to exit with:
// 0 after --help (printed on stdout), 2 after a parse error, printed on stderr
// as "<program>: <what is wrong> (see --help)". The program is the App's name,
// or argv[0]'s file name if the App has none.
[[nodiscard]] inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& help) {  // --help, --help-all, --version
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    const std::string program = std::filesystem::path(app.get_name()).filename().string();
    std::fprintf(stderr, "%s: %s (see --help)\n", program.c_str(), error.what());
    return kExitUsage;
  }
  return std::nullopt;
}

// `check` (a CLI11 validator such as CLI::IsMember or CLI::PositiveNumber)
// with its failure told as `message`, in which "{}" stands for the value
// given; CLI11 puts the option's name in front:
//   ->check(frameshm::cli::explained(CLI::PositiveNumber, "must be positive"))
//   => "--width: must be positive"
[[nodiscard]] inline CLI::Validator explained(CLI::Validator check, std::string message) {
  std::string description = check.get_description();
  return CLI::Validator(
      [check = std::move(check), message = std::move(message)](std::string& value) {
        std::string copy = value;
        if (check(copy).empty()) return std::string();
        std::string text = message;
        if (const auto at = text.find("{}"); at != std::string::npos) text.replace(at, 2, value);
        return text;
      },
      std::move(description));
}

}  // namespace frameshm::cli
