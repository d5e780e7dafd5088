// SPDX-License-Identifier: LGPL-2.1-or-later
// tools/json_writer.hpp — a small streaming JSON writer for frameshm-ls and frameshm-bench.
//
// Writes compact, valid JSON into a string: objects, arrays, strings escaped
// per RFC 8259, numbers (non-finite ones become null, which JSON lacks).
//
//   frameshm::tools::JsonWriter json;
//   json.beginObject();
//   json.key("name").value("cam0");
//   json.key("fps").value(29.97);
//   json.endObject();
//   std::puts(json.str().c_str());
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace frameshm::tools {

class JsonWriter {
 public:
  JsonWriter& beginObject() { return open('{'); }
  JsonWriter& endObject() { return close('}'); }
  JsonWriter& beginArray() { return open('['); }
  JsonWriter& endArray() { return close(']'); }

  // The key of the next member of the current object.
  JsonWriter& key(std::string_view name) {
    separate();
    writeString(name);
    out_ += ':';
    afterKey_ = true;
    return *this;
  }

  JsonWriter& value(std::string_view text) {
    separate();
    writeString(text);
    return *this;
  }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag) { return raw(flag ? "true" : "false"); }
  JsonWriter& value(double number) {
    if (!std::isfinite(number)) return raw("null");
    char text[40];
    std::snprintf(text, sizeof text, "%.10g", number);
    return raw(text);
  }
  JsonWriter& value(std::int64_t number) { return raw(std::to_string(number)); }
  JsonWriter& value(std::uint64_t number) { return raw(std::to_string(number)); }
  JsonWriter& value(std::uint32_t number) { return raw(std::to_string(number)); }
  JsonWriter& value(int number) { return raw(std::to_string(number)); }
  JsonWriter& null() { return raw("null"); }

  [[nodiscard]] const std::string& str() const noexcept { return out_; }

 private:
  JsonWriter& open(char bracket) {
    separate();
    out_ += bracket;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char bracket) {
    out_ += bracket;
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  JsonWriter& raw(std::string_view text) {
    separate();
    out_ += text;
    return *this;
  }
  // A comma before every element but the first of its container; none right after a key.
  void separate() {
    if (afterKey_) {
      afterKey_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
  void writeString(std::string_view text) {
    out_ += '"';
    for (const char c : text) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\t':
          out_ += "\\t";
          break;
        case '\r':
          out_ += "\\r";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out_ += escaped;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool afterKey_ = false;
};

}  // namespace frameshm::tools
