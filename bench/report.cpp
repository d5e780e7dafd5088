// SPDX-License-Identifier: LGPL-2.1-or-later
#include "report.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace frameshm::bench {

std::optional<Figure> Report::find(const std::string& scenario, const std::string& id) const {
  auto it = std::find_if(figures_.begin(), figures_.end(),
                         [&](const Figure& f) { return f.scenario == scenario && f.id == id; });
  if (it == figures_.end()) return std::nullopt;
  return *it;
}

void Report::printTable(std::FILE* out) const {
  std::string scenario;
  for (const Figure& f : figures_) {
    if (f.scenario != scenario) {
      scenario = f.scenario;
      std::fprintf(out, "\n== %s ==\n", scenario.c_str());
      std::fprintf(out, "%-62s %14s  %-9s %s\n", "figure", "value", "unit", "ratio");
      if (auto it = notes_.find(scenario); it != notes_.end())
        for (const auto& text : it->second) std::fprintf(out, "  note: %s\n", text.c_str());
    }
    char ratio[64] = "";
    if (std::isfinite(f.ratio)) std::snprintf(ratio, sizeof ratio, "%.3f x %s", f.ratio, f.ratioOf.c_str());
    std::fprintf(out, "%-62s %14.2f  %-9s %s\n", f.label.c_str(), f.value, f.unit.c_str(), ratio);
  }
  for (const auto& [name, texts] : notes_) {
    const bool shown =
        std::any_of(figures_.begin(), figures_.end(), [&](const Figure& f) { return f.scenario == name; });
    if (!shown)
      for (const auto& text : texts)
        std::fprintf(out, "\n== %s ==\n  note: %s\n", name.c_str(), text.c_str());
  }
  if (targets_.empty()) return;
  std::fprintf(out, "\n== targets ==\n");
  for (const Target& t : targets_) {
    std::fprintf(out, "%-4s %-52s goal %-12s measured %.3f%s%s\n", t.met ? "MET" : "MISS", t.name.c_str(),
                 t.goal.c_str(), t.value, t.note.empty() ? "" : "  — ", t.note.c_str());
  }
}

std::string Report::json(const std::map<std::string, std::string>& context,
                         const std::vector<double>& loadBefore, const std::vector<double>& loadAfter,
                         double wallSeconds) const {
  using Json = nlohmann::ordered_json;
  // JSON has no NaN or infinity: a figure that could not be measured is null.
  auto number = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  Json json = Json::object();
  for (const auto& [key, value] : context) json[key] = value;
  json["loadAverageBefore"] = loadBefore;
  json["loadAverageAfter"] = loadAfter;
  json["wallSeconds"] = number(wallSeconds);
  Json& scenarios = json["scenarios"] = Json::object();
  for (const Figure& f : figures_) {
    Json& scenario = scenarios[f.scenario];
    if (scenario.is_null())
      if (auto it = notes_.find(f.scenario); it != notes_.end()) scenario["notes"] = it->second;
    Json figure = {{"id", f.id}, {"label", f.label}, {"value", number(f.value)}, {"unit", f.unit}};
    if (std::isfinite(f.ratio)) figure["ratio"] = f.ratio, figure["ratioOf"] = f.ratioOf;
    scenario["figures"].push_back(std::move(figure));
  }
  json["notes"] = notes_;
  Json& targets = json["targets"] = Json::array();
  for (const Target& t : targets_) {
    Json target = {{"name", t.name}, {"goal", t.goal}, {"value", number(t.value)}, {"met", t.met}};
    if (!t.note.empty()) target["note"] = t.note;
    targets.push_back(std::move(target));
  }
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<Report> Report::parse(const std::string& text) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("scenarios") || !doc["scenarios"].is_object()) return std::nullopt;
  auto number = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
  try {
    Report report;
    for (const auto& [scenario, body] : doc["scenarios"].items()) {
      for (const auto& note : body.value("notes", nlohmann::json::array()))
        report.note(scenario, note.get<std::string>());
      for (const auto& f : body.value("figures", nlohmann::json::array()))
        report.add({scenario, f.at("id").get<std::string>(), f.value("label", std::string()),
                    number(f.at("value")), f.value("unit", std::string()),
                    f.contains("ratio") ? number(f["ratio"]) : NAN, f.value("ratioOf", std::string())});
    }
    return report;
  } catch (const nlohmann::json::exception&) {  // a member missing or of the wrong type
    return std::nullopt;
  }
}

}  // namespace frameshm::bench
