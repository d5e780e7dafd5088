// SPDX-License-Identifier: LGPL-2.1-or-later
// tools/json_reader.hpp — a strict little JSON parser: tests check the tools' --json output with
// it, and frameshm-bench --replot reads a run back.
//
// Parses a whole document into a Value tree (objects keep their members in a
// map); anything that is not valid JSON makes parse() return nullopt, so a
// test that parses output also checks it is well formed.
//
//   auto doc = frameshm::tools::json::parse(text);
//   REQUIRE(doc);
//   CHECK((*doc)["feeds"].array().size() == 1);
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace frameshm::tools::json {

struct Value;
using Object = std::map<std::string, Value>;
using Array = std::vector<Value>;

struct Value {
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>> v =
      nullptr;

  bool isNull() const { return std::holds_alternative<std::nullptr_t>(v); }
  bool isNumber() const { return std::holds_alternative<double>(v); }
  bool isObject() const { return std::holds_alternative<std::shared_ptr<Object>>(v); }
  bool isArray() const { return std::holds_alternative<std::shared_ptr<Array>>(v); }
  double number() const { return isNumber() ? std::get<double>(v) : 0.0; }
  bool boolean() const { return std::holds_alternative<bool>(v) && std::get<bool>(v); }
  std::string string() const {
    return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : "";
  }
  const Array& array() const {
    static const Array none;
    return isArray() ? *std::get<std::shared_ptr<Array>>(v) : none;
  }
  const Object& object() const {
    static const Object none;
    return isObject() ? *std::get<std::shared_ptr<Object>>(v) : none;
  }
  bool has(const std::string& key) const { return object().count(key) != 0; }
  // The member `key`, or null when absent.
  const Value& operator[](const std::string& key) const {
    static const Value none;
    auto it = object().find(key);
    return it == object().end() ? none : it->second;
  }
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<Value> document() {
    auto value = parseValue();
    skip();
    if (!value || pos_ != text_.size()) return std::nullopt;
    return value;
  }

 private:
  void skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  std::optional<std::string> parseString() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return std::nullopt;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (pos_ + 4 > text_.size()) return std::nullopt;
          out += '?';  // the tests never need the code point itself
          pos_ += 4;
          break;
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::optional<Value> parseValue() {
    skip();
    if (pos_ >= text_.size()) return std::nullopt;
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      auto object = std::make_shared<Object>();
      if (!eat('}')) {
        do {
          skip();
          auto key = parseString();
          if (!key || !eat(':')) return std::nullopt;
          auto value = parseValue();
          if (!value) return std::nullopt;
          (*object)[*key] = std::move(*value);
        } while (eat(','));
        if (!eat('}')) return std::nullopt;
      }
      return Value{object};
    }
    if (c == '[') {
      ++pos_;
      auto array = std::make_shared<Array>();
      if (!eat(']')) {
        do {
          auto value = parseValue();
          if (!value) return std::nullopt;
          array->push_back(std::move(*value));
        } while (eat(','));
        if (!eat(']')) return std::nullopt;
      }
      return Value{array};
    }
    if (c == '"') {
      auto text = parseString();
      if (!text) return std::nullopt;
      return Value{*text};
    }
    if (literal("true")) return Value{true};
    if (literal("false")) return Value{false};
    if (literal("null")) return Value{nullptr};
    const std::string rest(text_.substr(pos_, 64));
    char* end = nullptr;
    const double number = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str() || !(c == '-' || std::isdigit(static_cast<unsigned char>(c))))
      return std::nullopt;
    pos_ += static_cast<std::size_t>(end - rest.c_str());
    return Value{number};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

inline std::optional<Value> parse(std::string_view text) {
  return Parser(text).document();
}

}  // namespace frameshm::tools::json
