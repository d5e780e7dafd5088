// SPDX-License-Identifier: LGPL-2.1-or-later
#include "report.hpp"

#include <algorithm>

#include "json_writer.hpp"

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
  tools::JsonWriter json;
  json.beginObject();
  for (const auto& [key, value] : context) json.key(key).value(value);
  auto loads = [&](const char* name, const std::vector<double>& values) {
    json.key(name).beginArray();
    for (double v : values) json.value(v);
    json.endArray();
  };
  loads("loadAverageBefore", loadBefore);
  loads("loadAverageAfter", loadAfter);
  json.key("wallSeconds").value(wallSeconds);
  json.key("scenarios").beginObject();
  std::vector<std::string> order;
  for (const Figure& f : figures_)
    if (std::find(order.begin(), order.end(), f.scenario) == order.end()) order.push_back(f.scenario);
  for (const auto& scenario : order) {
    json.key(scenario).beginObject();
    if (auto it = notes_.find(scenario); it != notes_.end()) {
      json.key("notes").beginArray();
      for (const auto& text : it->second) json.value(text);
      json.endArray();
    }
    json.key("figures").beginArray();
    for (const Figure& f : figures_) {
      if (f.scenario != scenario) continue;
      json.beginObject();
      json.key("id").value(f.id);
      json.key("label").value(f.label);
      json.key("value").value(f.value);
      json.key("unit").value(f.unit);
      if (std::isfinite(f.ratio)) {
        json.key("ratio").value(f.ratio);
        json.key("ratioOf").value(f.ratioOf);
      }
      json.endObject();
    }
    json.endArray();
    json.endObject();
  }
  json.endObject();
  json.key("notes").beginObject();
  for (const auto& [scenario, texts] : notes_) {
    json.key(scenario).beginArray();
    for (const auto& text : texts) json.value(text);
    json.endArray();
  }
  json.endObject();
  json.key("targets").beginArray();
  for (const Target& t : targets_) {
    json.beginObject();
    json.key("name").value(t.name);
    json.key("goal").value(t.goal);
    json.key("value").value(t.value);
    json.key("met").value(t.met);
    if (!t.note.empty()) json.key("note").value(t.note);
    json.endObject();
  }
  json.endArray();
  json.endObject();
  return json.str() + "\n";
}

}  // namespace frameshm::bench
