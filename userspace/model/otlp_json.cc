#include "model/otlp_json.h"

#include "common/hex.h"
#include "protocols/common/redact.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace otelbpf {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using Event = opentelemetry::proto::trace::v1::Span_Event;
using Link = opentelemetry::proto::trace::v1::Span_Link;
using Scope = opentelemetry::proto::common::v1::InstrumentationScope;
using ArrayValue = opentelemetry::proto::common::v1::ArrayValue;
using KeyValueList = opentelemetry::proto::common::v1::KeyValueList;
using RepeatedKeyValues = google::protobuf::RepeatedPtrField<otlp::KeyValue>;

constexpr int kMaxAnyValueDepth = 64;
constexpr std::size_t kTraceIdBytes = 16;
constexpr std::size_t kSpanIdBytes = 8;

// ---------------------------------------------------------------------------------------------------------
// Tables shared by decoder and encoder.

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Standard and URL-safe alphabets (proto3 JSON parsers accept both).
constexpr std::array<std::int8_t, 256> make_base64_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<std::int8_t>(i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}
constexpr auto kBase64Value = make_base64_table();

const char* type_name(element_type type) {
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

// Compares a JSON key with a field's lowerCamelCase JSON name and its proto (snake_case) name.
inline bool is_key(std::string_view key, std::string_view camel, std::string_view snake) {
  return key == camel || key == snake;
}
inline bool is_key(std::string_view key, std::string_view name) { return key == name; }

// ---------------------------------------------------------------------------------------------------------
// Decoder. Every function returns false on error after setting `problem_`; callers on the way up prepend
// their position (key or array index) to `path_`, so the success path pays nothing for error reporting.

class Decoder {
 public:
  explicit Decoder(JsonDecodeError& error) : error_(error) {}

  bool request(element root, otlp::ExportRequest& out) {
    if (root.type() != element_type::OBJECT) {
      error_.message = std::string("top-level JSON value must be an object, got ") + type_name(root.type());
      return false;
    }
    simdjson::dom::object obj = root.get_object().value_unsafe();
    for (auto field : obj) {
      if (field.value.is_null()) continue;
      bool ok = true;
      if (is_key(field.key, "resourceSpans", "resource_spans")) {
        ok = repeated(field.value, [&](element e) { return resource_spans(e, *out.add_resource_spans()); });
      }
      if (!ok) return finish(field.key);
    }
    return true;
  }

 private:
  // ---- error handling ----
  bool fail(std::string problem) {
    problem_ = std::move(problem);
    return false;
  }
  bool type_error(const char* expected, element value) {
    return fail(std::string("expected ") + expected + ", got " + type_name(value.type()));
  }
  bool at_key(std::string_view key) {
    if (!path_.empty() && path_.front() != '[') path_.insert(0, 1, '.');
    path_.insert(0, key);
    return false;
  }
  bool at_index(std::size_t index) {
    if (!path_.empty() && path_.front() != '[') path_.insert(0, 1, '.');
    path_.insert(0, "[" + std::to_string(index) + "]");
    return false;
  }
  bool finish(std::string_view key) {
    at_key(key);
    error_.message = "invalid field " + path_ + ": " + problem_;
    return false;
  }

  // ---- structure helpers ----
  bool object(element value, simdjson::dom::object& out) {
    if (value.type() != element_type::OBJECT) return type_error("an object", value);
    out = value.get_object().value_unsafe();
    return true;
  }

  // Calls each(field) for every field of an object that is not null (null means absent); a field each()
  // rejects is named in the error.
  struct Field {
    std::string_view key;
    element value;
  };
  template <class Each>
  bool fields(element value, Each&& each) {
    simdjson::dom::object obj;
    if (!object(value, obj)) return false;
    for (auto field : obj) {
      if (field.value.is_null()) continue;
      if (!each(Field{field.key, field.value})) return at_key(field.key);
    }
    return true;
  }

  // Null array elements are skipped (null means absent).
  template <class Each>
  bool repeated(element value, Each&& each) {
    if (value.type() != element_type::ARRAY) return type_error("an array", value);
    std::size_t index = 0;
    simdjson::dom::array array = value.get_array().value_unsafe();
    for (element item : array) {
      if (!item.is_null() && !each(item)) return at_index(index);
      ++index;
    }
    return true;
  }

  // ---- scalars ----
  bool string(element value, std::string& out) {
    if (value.type() != element_type::STRING) return type_error("a string", value);
    out.assign(value.get_string().value_unsafe());
    return true;
  }

  bool boolean(element value, bool& out) {
    if (value.type() != element_type::BOOL) return type_error("a boolean", value);
    out = value.get_bool().value_unsafe();
    return true;
  }

  // Integer given as a JSON number or a decimal string, checked against [min, max].
  // An integer field handed to a message's setter.
  template <class T, class Set>
  bool integer_into(element value, Set&& set) {
    T v = 0;
    if (!integer(value, v)) return false;
    set(v);
    return true;
  }

  template <class T>
  bool integer(element value, T& out) {
    constexpr auto kMin = std::numeric_limits<T>::min();
    constexpr auto kMax = std::numeric_limits<T>::max();
    switch (value.type()) {
      case element_type::INT64: {
        std::int64_t v = value.get_int64().value_unsafe();
        if constexpr (std::is_signed_v<T>) {
          if (v < static_cast<std::int64_t>(kMin) || v > static_cast<std::int64_t>(kMax)) break;
        } else {
          if (v < 0 || static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(kMax)) break;
        }
        out = static_cast<T>(v);
        return true;
      }
      case element_type::UINT64: {
        std::uint64_t v = value.get_uint64().value_unsafe();
        if (v > static_cast<std::uint64_t>(kMax)) break;
        out = static_cast<T>(v);
        return true;
      }
      case element_type::DOUBLE: {
        // Integral doubles such as 1.7e18 or 3.0 are accepted, as proto3 JSON parsers do.
        double d = value.get_double().value_unsafe();
        if (!(d == std::floor(d))) return fail("expected an integer, got a fractional number");
        // 2^63 and 2^64 are exactly representable; compare against them rather than against kMax.
        constexpr double kUpper = std::is_signed_v<T> ? -static_cast<double>(kMin) : 2.0 * (kMax / 2 + 1);
        if (d < static_cast<double>(kMin) || d >= kUpper) break;
        out = static_cast<T>(d);
        return true;
      }
      case element_type::STRING: {
        std::string_view s = value.get_string().value_unsafe();
        const char* first = s.data();
        const char* last = s.data() + s.size();
        // from_chars does not accept a leading '+' (but must not then accept "+-1").
        if (last - first > 1 && *first == '+' && first[1] != '-') ++first;
        auto [ptr, ec] = std::from_chars(first, last, out);
        if (ec == std::errc::result_out_of_range) break;
        if (first == last || ec != std::errc() || ptr != last) {
          return fail("expected an integer, got the string \"" + std::string(s.substr(0, 64)) + "\"");
        }
        return true;
      }
      default:
        return type_error("an integer (number or decimal string)", value);
    }
    return fail("integer out of range");
  }

  // fixed64: like integer<uint64_t>, plus the {"low":..,"high":..} long-bits object that some versions of
  // the OpenTelemetry JS exporter produced.
  bool fixed64(element value, std::uint64_t& out) {
    if (value.type() != element_type::OBJECT) return integer(value, out);
    std::int64_t low = 0, high = 0;
    bool has_low = false, has_high = false;
    simdjson::dom::object obj = value.get_object().value_unsafe();
    for (auto field : obj) {
      if (field.key == "low") {
        if (!integer(field.value, low)) return at_key(field.key);
        has_low = true;
      } else if (field.key == "high") {
        if (!integer(field.value, high)) return at_key(field.key);
        has_high = true;
      }
    }
    if (!has_low || !has_high) return type_error("an integer (number or decimal string)", value);
    out =
        (static_cast<std::uint64_t>(high & 0xffffffff) << 32) | static_cast<std::uint64_t>(low & 0xffffffff);
    return true;
  }

  bool real(element value, double& out) {
    switch (value.type()) {
      case element_type::INT64:
        out = static_cast<double>(value.get_int64().value_unsafe());
        return true;
      case element_type::UINT64:
        out = static_cast<double>(value.get_uint64().value_unsafe());
        return true;
      case element_type::DOUBLE:
        out = value.get_double().value_unsafe();
        return true;
      case element_type::STRING: {
        std::string_view s = value.get_string().value_unsafe();
        if (s == "NaN") {
          out = std::numeric_limits<double>::quiet_NaN();
        } else if (s == "Infinity") {
          out = std::numeric_limits<double>::infinity();
        } else if (s == "-Infinity") {
          out = -std::numeric_limits<double>::infinity();
        } else {
          auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
          // from_chars also reads "nan" and "inf": only the proto3 JSON spellings above are accepted.
          if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(out)) {
            return fail("expected a number, got the string \"" + std::string(s.substr(0, 64)) + "\"");
          }
        }
        return true;
      }
      default:
        return type_error("a number", value);
    }
  }

  // Enum given as an integer or as its proto name.
  template <class Enum, class Parse>
  bool enumeration(element value, Enum& out, Parse&& parse) {
    if (value.type() == element_type::STRING) {
      std::string name(value.get_string().value_unsafe());
      if (parse(name, &out)) return true;
      // Numeric strings are accepted too.
      std::int32_t number = 0;
      auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
      if (!name.empty() && ec == std::errc() && ptr == name.data() + name.size()) {
        out = static_cast<Enum>(number);
        return true;
      }
      return fail("unknown enum value \"" + name.substr(0, 64) + "\"");
    }
    std::int32_t number = 0;
    if (value.type() != element_type::INT64 && value.type() != element_type::UINT64 &&
        value.type() != element_type::DOUBLE) {
      return type_error("an enum (integer or name)", value);
    }
    if (!integer(value, number)) return false;
    out = static_cast<Enum>(number);  // proto3 enums are open: unknown numbers are kept
    return true;
  }

  // Trace and span ids: hex strings (case-insensitive); "" means absent.
  bool hex_id(element value, std::size_t bytes, std::string& out) {
    if (value.type() != element_type::STRING) return type_error("a hex string", value);
    std::string_view s = value.get_string().value_unsafe();
    if (s.empty()) {
      out.clear();
      return true;
    }
    if (s.size() != 2 * bytes) {
      return fail("expected " + std::to_string(2 * bytes) + " hex characters, got " +
                  std::to_string(s.size()));
    }
    out.resize(bytes);
    for (std::size_t i = 0; i < bytes; ++i) {
      int hi = hex_digit_value(s[2 * i]);
      int lo = hex_digit_value(s[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        out.clear();
        return fail("invalid hex string \"" + std::string(s) + "\"");
      }
      out[i] = static_cast<char>((hi << 4) | lo);
    }
    return true;
  }

  bool base64(element value, std::string& out) {
    if (value.type() != element_type::STRING) return type_error("a base64 string", value);
    std::string_view s = value.get_string().value_unsafe();
    while (!s.empty() && s.back() == '=') s.remove_suffix(1);
    if (s.size() % 4 == 1) return fail("invalid base64 length");
    out.clear();
    out.reserve(s.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
      int v = kBase64Value[static_cast<unsigned char>(c)];
      if (v < 0) return fail("invalid base64 character");
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
    return true;
  }

  // ---- messages ----
  bool resource_spans(element value, otlp::ResourceSpans& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "resource")) {
        ok = resource(field.value, *out.mutable_resource());
      } else if (is_key(field.key, "scopeSpans", "scope_spans")) {
        ok = repeated(field.value, [&](element e) { return scope_spans(e, *out.add_scope_spans()); });
      } else if (is_key(field.key, "schemaUrl", "schema_url")) {
        ok = string(field.value, *out.mutable_schema_url());
      }
      return ok;
    });
  }

  bool resource(element value, otlp::Resource& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "attributes")) {
        ok = key_values(field.value, *out.mutable_attributes(), 0);
      } else if (is_key(field.key, "droppedAttributesCount", "dropped_attributes_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_attributes_count(v); });
      }
      return ok;
    });
  }

  bool scope_spans(element value, otlp::ScopeSpans& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "scope")) {
        ok = scope(field.value, *out.mutable_scope());
      } else if (is_key(field.key, "spans")) {
        ok = repeated(field.value, [&](element e) { return span(e, *out.add_spans()); });
      } else if (is_key(field.key, "schemaUrl", "schema_url")) {
        ok = string(field.value, *out.mutable_schema_url());
      }
      return ok;
    });
  }

  bool scope(element value, Scope& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "name")) {
        ok = string(field.value, *out.mutable_name());
      } else if (is_key(field.key, "version")) {
        ok = string(field.value, *out.mutable_version());
      } else if (is_key(field.key, "attributes")) {
        ok = key_values(field.value, *out.mutable_attributes(), 0);
      } else if (is_key(field.key, "droppedAttributesCount", "dropped_attributes_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_attributes_count(v); });
      }
      return ok;
    });
  }

  bool span(element value, otlp::Span& out) {
    simdjson::dom::object obj;
    if (!object(value, obj)) return false;
    for (auto field : obj) {
      if (field.value.is_null()) continue;
      std::string_view key = field.key;
      bool ok = true;
      if (is_key(key, "traceId", "trace_id")) {
        ok = hex_id(field.value, kTraceIdBytes, *out.mutable_trace_id());
      } else if (is_key(key, "spanId", "span_id")) {
        ok = hex_id(field.value, kSpanIdBytes, *out.mutable_span_id());
      } else if (is_key(key, "parentSpanId", "parent_span_id")) {
        ok = hex_id(field.value, kSpanIdBytes, *out.mutable_parent_span_id());
      } else if (is_key(key, "traceState", "trace_state")) {
        ok = string(field.value, *out.mutable_trace_state());
      } else if (is_key(key, "flags")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_flags(v); });
      } else if (is_key(key, "name")) {
        ok = string(field.value, *out.mutable_name());
      } else if (is_key(key, "kind")) {
        otlp::Span::SpanKind v{};
        ok = enumeration(field.value, v, [](const std::string& name, otlp::Span::SpanKind* kind) {
          return otlp::Span::SpanKind_Parse(name, kind);
        });
        out.set_kind(v);
      } else if (is_key(key, "startTimeUnixNano", "start_time_unix_nano")) {
        std::uint64_t v = 0;
        ok = fixed64(field.value, v);
        out.set_start_time_unix_nano(v);
      } else if (is_key(key, "endTimeUnixNano", "end_time_unix_nano")) {
        std::uint64_t v = 0;
        ok = fixed64(field.value, v);
        out.set_end_time_unix_nano(v);
      } else if (is_key(key, "attributes")) {
        ok = key_values(field.value, *out.mutable_attributes(), 0);
      } else if (is_key(key, "droppedAttributesCount", "dropped_attributes_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_attributes_count(v); });
      } else if (is_key(key, "events")) {
        ok = repeated(field.value, [&](element e) { return event(e, *out.add_events()); });
      } else if (is_key(key, "droppedEventsCount", "dropped_events_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_events_count(v); });
      } else if (is_key(key, "links")) {
        ok = repeated(field.value, [&](element e) { return link(e, *out.add_links()); });
      } else if (is_key(key, "droppedLinksCount", "dropped_links_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_links_count(v); });
      } else if (is_key(key, "status")) {
        ok = status(field.value, *out.mutable_status());
      }
      if (!ok) return at_key(key);
    }
    return true;
  }

  bool event(element value, Event& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "timeUnixNano", "time_unix_nano")) {
        std::uint64_t v = 0;
        ok = fixed64(field.value, v);
        out.set_time_unix_nano(v);
      } else if (is_key(field.key, "name")) {
        ok = string(field.value, *out.mutable_name());
      } else if (is_key(field.key, "attributes")) {
        ok = key_values(field.value, *out.mutable_attributes(), 0);
      } else if (is_key(field.key, "droppedAttributesCount", "dropped_attributes_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_attributes_count(v); });
      }
      return ok;
    });
  }

  bool link(element value, Link& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "traceId", "trace_id")) {
        ok = hex_id(field.value, kTraceIdBytes, *out.mutable_trace_id());
      } else if (is_key(field.key, "spanId", "span_id")) {
        ok = hex_id(field.value, kSpanIdBytes, *out.mutable_span_id());
      } else if (is_key(field.key, "traceState", "trace_state")) {
        ok = string(field.value, *out.mutable_trace_state());
      } else if (is_key(field.key, "attributes")) {
        ok = key_values(field.value, *out.mutable_attributes(), 0);
      } else if (is_key(field.key, "droppedAttributesCount", "dropped_attributes_count")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_dropped_attributes_count(v); });
      } else if (is_key(field.key, "flags")) {
        ok = integer_into<std::uint32_t>(field.value, [&](auto v) { out.set_flags(v); });
      }
      return ok;
    });
  }

  bool status(element value, otlp::Status& out) {
    return fields(value, [&](const Field& field) {
      bool ok = true;
      if (is_key(field.key, "message")) {
        ok = string(field.value, *out.mutable_message());
      } else if (is_key(field.key, "code")) {
        otlp::Status::StatusCode v{};
        ok = enumeration(field.value, v, [](const std::string& name, otlp::Status::StatusCode* code) {
          return otlp::Status::StatusCode_Parse(name, code);
        });
        out.set_code(v);
      }
      return ok;
    });
  }

  // `depth` is the number of AnyValues enclosing these key/values.
  bool key_values(element value, RepeatedKeyValues& out, int depth) {
    return repeated(value, [&](element e) { return key_value(e, *out.Add(), depth); });
  }

  bool key_value(element value, otlp::KeyValue& out, int depth) {
    simdjson::dom::object obj;
    if (!object(value, obj)) return false;
    for (auto field : obj) {
      if (field.value.is_null()) continue;
      bool ok = true;
      if (is_key(field.key, "key")) {
        ok = string(field.value, *out.mutable_key());
      } else if (is_key(field.key, "value")) {
        ok = any_value(field.value, *out.mutable_value(), depth + 1);
      }
      if (!ok) return at_key(field.key);
    }
    return true;
  }

  bool any_value(element value, otlp::AnyValue& out, int depth) {
    if (depth > kMaxAnyValueDepth) {
      return fail("AnyValue nesting deeper than " + std::to_string(kMaxAnyValueDepth) + " levels");
    }
    simdjson::dom::object obj;
    if (!object(value, obj)) return false;
    for (auto field : obj) {
      if (field.value.is_null()) continue;
      std::string_view key = field.key;
      bool ok = true;
      if (is_key(key, "stringValue", "string_value")) {
        ok = string(field.value, *out.mutable_string_value());
      } else if (is_key(key, "boolValue", "bool_value")) {
        bool v = false;
        ok = boolean(field.value, v);
        out.set_bool_value(v);
      } else if (is_key(key, "intValue", "int_value")) {
        ok = integer_into<std::int64_t>(field.value, [&](auto v) { out.set_int_value(v); });
      } else if (is_key(key, "doubleValue", "double_value")) {
        double v = 0;
        ok = real(field.value, v);
        out.set_double_value(v);
      } else if (is_key(key, "arrayValue", "array_value")) {
        ok = array_value(field.value, *out.mutable_array_value(), depth);
      } else if (is_key(key, "kvlistValue", "kvlist_value")) {
        ok = kvlist_value(field.value, *out.mutable_kvlist_value(), depth);
      } else if (is_key(key, "bytesValue", "bytes_value")) {
        ok = base64(field.value, *out.mutable_bytes_value());
      }
      if (!ok) return at_key(key);
    }
    return true;
  }

  bool array_value(element value, ArrayValue& out, int depth) {
    simdjson::dom::object obj;
    if (!object(value, obj)) return false;
    for (auto field : obj) {
      if (field.value.is_null() || !is_key(field.key, "values")) continue;
      auto& values = *out.mutable_values();
      if (!repeated(field.value, [&](element e) { return any_value(e, *values.Add(), depth + 1); })) {
        return at_key(field.key);
      }
    }
    return true;
  }

  bool kvlist_value(element value, KeyValueList& out, int depth) {
    simdjson::dom::object obj;
    if (!object(value, obj)) return false;
    for (auto field : obj) {
      if (field.value.is_null() || !is_key(field.key, "values")) continue;
      if (!key_values(field.value, *out.mutable_values(), depth)) return at_key(field.key);
    }
    return true;
  }

  JsonDecodeError& error_;
  std::string problem_;
  std::string path_;
};

// One parser per thread, reused so that its buffers are allocated once; dropped after a huge document so
// that a single big request does not pin its memory forever.
constexpr std::size_t kParserKeepCapacity = 16u << 20;

// ---------------------------------------------------------------------------------------------------------
// Encoder: writes straight into the output string.

// The output string used as a buffer: its size is the room made so far, the bytes written end at `used_`
// and the string is cut there when the encoder is done. Appending to the string itself checked its capacity
// and wrote its terminator for every character: ~40 % of the encoder's time, which under tracing load
// is a quarter of the agent's.
class OutputBuffer {
 public:
  explicit OutputBuffer(std::string& out) : out_(out), used_(out.size()) {
    out_.resize(std::max(out_.capacity(), used_ + kMinRoom));
  }
  // Into a JsonLineBuffer's storage, from its start: the storage is not cut at the end (nor zero-filled
  // again at the next line); `*used` receives the bytes written.
  OutputBuffer(std::string& storage, std::size_t* used) : out_(storage), used_(0), report_used_(used) {
    if (out_.size() < kMinRoom) out_.resize(std::max(out_.capacity(), kMinRoom));
  }
  ~OutputBuffer() {
    if (report_used_)
      *report_used_ = used_;
    else
      out_.resize(used_);
  }
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  // Inlined at every call: a call per character was 10 % of the encoder.
  [[gnu::always_inline]] void operator+=(char c) {
    if (used_ == out_.size()) [[unlikely]]
      grow(1);
    out_[used_++] = c;
  }
  [[gnu::always_inline]] void append(const char* bytes, std::size_t n) {
    if (out_.size() - used_ < n) [[unlikely]]
      grow(n);
    std::memcpy(out_.data() + used_, bytes, n);
    used_ += n;
  }
  [[gnu::always_inline]] void append(std::string_view text) { append(text.data(), text.size()); }
  [[gnu::always_inline]] void append(const char* text) { append(std::string_view(text)); }
  [[gnu::always_inline]] void append(const char* begin, const char* end) {
    append(begin, static_cast<std::size_t>(end - begin));
  }
  std::size_t size() const { return used_; }
  const char* data() const { return out_.data(); }
  // Room for `n` more bytes at the returned pointer; commit() says how many were written.
  [[gnu::always_inline]] char* room(std::size_t n) {
    if (out_.size() - used_ < n) [[unlikely]]
      grow(n);
    return out_.data() + used_;
  }
  [[gnu::always_inline]] void commit(std::size_t n) { used_ += n; }
  // Room for `n` more bytes at data() + size(), which then count as written.
  char* extend(std::size_t n) {
    if (out_.size() - used_ < n) grow(n);
    char* at = out_.data() + used_;
    used_ += n;
    return at;
  }

 private:
  static constexpr std::size_t kMinRoom = 4096;
  [[gnu::noinline]] void grow(std::size_t n) { out_.resize(std::max(2 * out_.size(), used_ + n + kMinRoom)); }
  std::string& out_;
  std::size_t used_;
  std::size_t* report_used_ = nullptr;
};

// The JSON of the socket attributes (for_each_socket_attribute) of the connections written lately, per
// encoding thread: a connection's spans repeat them request after request, and writing them was ~40 % of
// the attribute writer's time. Direct-mapped by the ports (ephemeral ports tell connections apart), each
// entry checked against every field the text is made of. 256 entries of ~0.5 KiB at most per thread.
class SocketAttributeJsonCache {
 public:
  struct Entry {
    std::string peer_address, local_address;
    std::uint16_t peer_port = 0, local_port = 0;
    std::uint8_t flags = 0;
    bool valid = false;
    std::string json;  // starts with a comma

    bool holds(const SysSpan& span, const SocketAttributesShape& shape) const {
      return valid && peer_port == span.peer_port && local_port == span.local_port &&
             flags == flags_of(span, shape) && peer_address == span.peer_address &&
             local_address == span.local_address;
    }
    void fill(const SysSpan& span, const SocketAttributesShape& shape, std::string_view comma,
              std::string_view text) {
      peer_address = span.peer_address;
      local_address = span.local_address;
      peer_port = span.peer_port;
      local_port = span.local_port;
      flags = flags_of(span, shape);
      json.assign(comma).append(text);
      valid = true;
    }
  };

  Entry& entry_for(const SysSpan& span, const SocketAttributesShape& shape) {
    const std::size_t mix = std::size_t{span.peer_port} * 31 + span.local_port + flags_of(span, shape);
    return entries_[mix % kEntries];
  }

 private:
  static constexpr std::size_t kEntries = 256;
  static std::uint8_t flags_of(const SysSpan& span, const SocketAttributesShape& shape) {
    return static_cast<std::uint8_t>(span.udp | span.ipv6 << 1 | shape.server << 2 |
                                     shape.record_names_server_address << 3 |
                                     shape.record_names_server_port << 4);
  }
  std::array<Entry, kEntries> entries_;
};
thread_local SocketAttributeJsonCache socket_attribute_json_cache;

class Encoder {
 public:
  explicit Encoder(std::string& out) : out_(out) {}
  Encoder(std::string& storage, std::size_t* used) : out_(storage, used) {}

  void request(const otlp::ExportRequest& request) {
    const otlp::ExportRequest* one[] = {&request};
    requests(one);
  }

  // Several requests as the one request that merging them would make (their resource spans in order).
  void requests(std::span<const otlp::ExportRequest* const> parts) {
    bool any = false;
    for (const auto* part : parts) any = any || part->resource_spans_size() > 0;
    resource_spans_list(any, [&](auto&& next) {
      for (const auto* part : parts)
        for (const auto& rs : part->resource_spans()) {
          next();
          resource_spans(rs);
        }
    });
  }

  // Batches as the one request merging them would make: each batch's OTLP resource spans, then its
  // compact sys spans (model/sys_span.h) written straight from their fields and attribute list, as
  // resource_spans() would write the OTLP spans they would become
  // (tests/unit/assembler/compact_sys_span_test.cc compares both).
  void batches(std::span<const SpanBatch* const> parts) {
    bool any = false;
    for (const auto* part : parts)
      any = any || part->request().resource_spans_size() > 0 || !part->sys_groups.empty();
    resource_spans_list(any, [&](auto&& next) {
      for (const auto* part : parts) {
        for (const auto& rs : part->request().resource_spans()) {
          next();
          resource_spans(rs);
        }
        for (const auto& group : part->sys_groups) {
          next();
          sys_group(group);
        }
      }
    });
  }

  void response(const otlp::ExportResponse& response) {
    begin();
    if (response.has_partial_success()) {
      const auto& partial = response.partial_success();
      if (partial.rejected_spans() != 0 || !partial.error_message().empty()) {
        key("\"partialSuccess\":");
        begin();
        quoted_integer_field("\"rejectedSpans\":", partial.rejected_spans());
        string_field("\"errorMessage\":", partial.error_message());
        end();
      }
    }
    end();
  }

 private:
  // ---- structure ----
  // {"resourceSpans":[...]}: `write` writes the items, calling next() before each (for the commas).
  template <class Write>
  void resource_spans_list(bool any, Write&& write) {
    begin();
    if (any) {
      key("\"resourceSpans\":");
      out_ += '[';
      bool first = true;
      write([&] {
        if (!first) out_ += ',';
        first = false;
      });
      out_ += ']';
      first_ = false;
    }
    end();
  }
  void begin() {
    out_ += '{';
    first_ = true;
  }
  void end() {
    out_ += '}';
    first_ = false;
  }
  // `k` is the quoted key with its colon (a literal: inlined, its copy is of a known length).
  [[gnu::always_inline]] void key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_.append(k);
  }
  template <class Items, class Each>
  void list(const Items& items, Each&& each) {
    out_ += '[';
    bool first = true;
    for (const auto& item : items) {
      if (!first) out_ += ',';
      first = false;
      each(item);
    }
    out_ += ']';
    first_ = false;
  }

  // ---- fields: the proto3 default (empty, zero) is left out, as the OTLP/JSON encoding does ----
  void string_field(std::string_view k, std::string_view value) {
    if (value.empty()) return;
    key(k);
    string(value);
  }
  void hex_field(std::string_view k, std::string_view bytes) {
    if (bytes.empty()) return;
    key(k);
    hex(bytes);
  }
  template <class T>
  void integer_field(std::string_view k, T value) {
    if (value == 0) return;
    key(k);
    integer(value);
  }
  template <class T>
  void quoted_integer_field(std::string_view k, T value) {
    if (value == 0) return;
    key(k);
    quoted_integer(value);
  }

  // ---- scalars ----
  template <class T>
  void integer(T value) {
    char buffer[24];
    auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out_.append(buffer, result.ptr);
  }
  template <class T>
  void quoted_integer(T value) {
    char* at = out_.room(24);  // '"', at most 20 digits and a sign, '"'
    at[0] = '"';
    char* end = std::to_chars(at + 1, at + 23, value).ptr;
    *end = '"';
    out_.commit(static_cast<std::size_t>(end + 1 - at));
  }

  void real(double value) {
    if (std::isnan(value)) {
      out_.append("\"NaN\"");
    } else if (std::isinf(value)) {
      out_.append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else if (value == 0 && std::signbit(value)) {
      out_.append("-0.0");  // "-0" would read back as the integer 0
    } else {
      char buffer[32];
      auto result = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest round-trip form
      // In a tie the shortest form is the fixed one: 2.2222222222222222e21 comes out as the 22-digit
      // integer 2222222222222222163968, which a JSON parser that reads integers into 64 bits (simdjson,
      // so our own decoder) refuses. Such a value is written with its exponent.
      const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
      if (text.size() > 19 && text.find_first_of(".eE") == std::string_view::npos)
        result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
      out_.append(buffer, result.ptr);
    }
  }

  void hex(std::string_view bytes) {
    out_ += '"';
    char* p = out_.extend(2 * bytes.size());
    for (unsigned char c : bytes) {
      *p++ = kHexDigits[c >> 4];
      *p++ = kHexDigits[c & 0xf];
    }
    out_ += '"';
  }

  void base64(const std::string& bytes) {
    out_ += '"';
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size();
    char* o = out_.extend((n + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
      std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
      *o++ = kBase64Alphabet[(v >> 18) & 63];
      *o++ = kBase64Alphabet[(v >> 12) & 63];
      *o++ = kBase64Alphabet[(v >> 6) & 63];
      *o++ = kBase64Alphabet[v & 63];
    }
    if (i < n) {
      std::uint32_t v = std::uint32_t{p[i]} << 16;
      if (i + 1 < n) v |= std::uint32_t{p[i + 1]} << 8;
      *o++ = kBase64Alphabet[(v >> 18) & 63];
      *o++ = kBase64Alphabet[(v >> 12) & 63];
      *o++ = i + 1 < n ? kBase64Alphabet[(v >> 6) & 63] : '=';
      *o++ = '=';
    }
    out_ += '"';
  }

  // Length of the valid UTF-8 sequence starting at p (a byte >= 0x80), or 0 if it is invalid (RFC 3629:
  // no overlong forms, no surrogates, nothing above U+10FFFF).
  static std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) {
    auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
      return p + i < end && p[i] >= lo && p[i] <= hi;
    };
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
    if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
    if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
    return 0;
  }

  // JSON string with escapes; invalid UTF-8 bytes become U+FFFD so the output is always valid JSON.
  // Whether all 8 bytes at p are printable ASCII other than '"' and '\\' (copied as they are): most
  // attribute text is, and testing a word at a time halves the encoder's time in string().
  static bool plain_byte(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }
  static bool plain_ascii8(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
    auto has_zero_byte = [](std::uint64_t x) { return ((x - kOnes) & ~x & kHighs) != 0; };
    const bool control = ((v - kOnes * 0x20) & ~v & kHighs) != 0;  // a byte below 0x20
    return !control && !(v & kHighs) && !has_zero_byte(v ^ (kOnes * '"')) && !has_zero_byte(v ^ (kOnes * '\\'));
  }

  // Whether every byte of `s` is printable ASCII other than '"' and '\\': a word at a time, the last
  // word overlapping the one before it. (The tail used to be copied into a word padded with a plain
  // character: its byte stores followed by a word load stalled store forwarding, ~a third of the sys
  // span encoder's time in bench_tracer's BM_EncodeSysSpansJson.) Text shorter than a word is tested a
  // byte at a time.
  static bool plain_ascii(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size();
    if (n < 8) {
      for (std::size_t i = 0; i < n; ++i)
        if (!plain_byte(p[i])) return false;
      return true;
    }
    for (; n > 8; p += 8, n -= 8)
      if (!plain_ascii8(p)) return false;
    return plain_ascii8(p + n - 8);
  }

  // `prefix`, then `s` (plain_ascii) quoted, then `suffix`, with one check of the room: most of what the
  // encoder writes is names and short values, where the per-piece bookkeeping cost more than the copy.
  void plain_string(std::string_view prefix, std::string_view s, std::string_view suffix) {
    // (An empty view may have no data: memcpy is not given it.)
    auto copy = [](char* to, std::string_view from) {
      if (!from.empty()) std::memcpy(to, from.data(), from.size());
      return to + from.size();
    };
    char* at = out_.extend(prefix.size() + s.size() + 2 + suffix.size());
    at = copy(at, prefix);
    *at++ = '"';
    at = copy(at, s);
    *at++ = '"';
    copy(at, suffix);
  }

  void string(std::string_view s) {
    if (plain_ascii(s)) return plain_string({}, s, {});
    out_ += '"';
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    const auto* run = p;  // start of the bytes that are copied verbatim
    auto flush = [&] { out_.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run)); };
    while (p < end) {
      if (end - p >= 8 && plain_ascii8(p)) {
        p += 8;
        continue;
      }
      unsigned char c = *p;
      if (plain_byte(c)) {
        ++p;
        continue;
      }
      if (c >= 0x80) {
        std::size_t n = utf8_sequence(p, end);
        if (n != 0) {
          p += n;
          continue;
        }
        flush();
        out_.append("\xEF\xBF\xBD");
        run = ++p;
        continue;
      }
      flush();
      switch (c) {
        case '"':
          out_.append("\\\"");
          break;
        case '\\':
          out_.append("\\\\");
          break;
        case '\n':
          out_.append("\\n");
          break;
        case '\r':
          out_.append("\\r");
          break;
        case '\t':
          out_.append("\\t");
          break;
        case '\b':
          out_.append("\\b");
          break;
        case '\f':
          out_.append("\\f");
          break;
        default: {
          const char escape[] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xf]};
          out_.append(escape, sizeof escape);
        }
      }
      run = ++p;
    }
    flush();
    out_ += '"';
  }

  // ---- messages ----
  void resource_spans(const otlp::ResourceSpans& rs) {
    begin();
    if (rs.has_resource()) {
      key("\"resource\":");
      resource(rs.resource());
    }
    if (rs.scope_spans_size() > 0) {
      key("\"scopeSpans\":");
      list(rs.scope_spans(), [this](const otlp::ScopeSpans& ss) { scope_spans(ss); });
    }
    string_field("\"schemaUrl\":", rs.schema_url());
    end();
  }

  void sys_group(const SysSpanGroup& group) {
    begin();
    key("\"resource\":");
    resource(group.resource);
    key("\"scopeSpans\":");
    out_ += '[';
    begin();
    key("\"scope\":");
    begin();
    string_field("\"name\":", kSysScopeName);
    string_field("\"version\":", OTELBPF_VERSION);
    end();
    if (!group.spans.empty()) {
      key("\"spans\":");
      list(group.spans, [&](const SysSpan& s) { sys_span(group, s); });
    }
    end();
    out_ += ']';
    first_ = false;
    end();
  }

  void sys_span(const SysSpanGroup& group, const SysSpan& s) {
    const auto& ctx = s.record.context;
    const bool context = ctx && ctx->ids_valid;
    begin();
    hex_field("\"traceId\":", sys_span_exported_trace_id(s));
    hex_field("\"spanId\":", sys_span_id(s));
    if (context) string_field("\"traceState\":", ctx->tracestate);
    hex_field("\"parentSpanId\":", sys_span_exported_parent_id(s));
    if (context) integer_field("\"flags\":", std::uint32_t{ctx->flags});
    string_field("\"name\":", sys_span_name(s));
    key("\"kind\":");
    integer(sys_span_kind(s));
    quoted_integer_field("\"startTimeUnixNano\":", sys_span_start_unix_ns(s));
    quoted_integer_field("\"endTimeUnixNano\":", sys_span_end_unix_ns(s));
    key("\"attributes\":");
    out_ += '[';
    SysAttributeWriter writer{*this};
    for_each_sys_attribute(group, s, writer);
    out_ += ']';
    first_ = false;
    if (s.record.error) {
      key("\"status\":");
      begin();
      string_field("\"message\":", exportable_status_message(s.record));
      key("\"code\":");
      integer(2);  // STATUS_CODE_ERROR
      end();
    }
    end();
  }

  // Writes a sys span's attributes: for_each_sys_attribute's visitor.
  struct SysAttributeWriter {
    Encoder& encoder;
    bool first = true;
    bool operator()(std::string_view name, const AttributeView& value) {
      encoder.sys_attribute(first, name, value);
      return true;
    }
    bool socket_attributes(const SysSpan& span, const SocketAttributesShape& shape) {
      encoder.socket_attributes(first, span, shape);
      return true;
    }
  };

  void sys_attribute(bool& first, std::string_view name, const AttributeView& value) {
    // {"key":<name>,"value":{"<type>Value":<value>}}, as key_value() writes it, in whole pieces: a span
    // has ~25 attributes, and the per-member bookkeeping of begin/key/end was a third of their cost.
    const std::string_view open = first ? "{\"key\":" : ",{\"key\":";
    first = false;
    // Every name is a literal of the tracer's or a parser's (l7::AttributeKey is made only from literals),
    // plain ASCII: written as it is, without the test a name from the wire needs (compact_sys_span_test
    // compares the output with that of the OTLP encoder, which tests every name).
    plain_string(open, name, ",\"value\":{");
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            // As set_exportable_value makes it: valid UTF-8, a URL query's values redacted. Plain ASCII
            // (most values) is valid UTF-8 as it is, and written in one piece.
            const bool as_is = name != "url.query";
            if (as_is && plain_ascii(x)) return plain_string("\"stringValue\":", x, {});
            out_.append("\"stringValue\":");
            if (as_is && l7::is_valid_utf8(x))
              string(x);
            else
              string(exportable_attribute_text(name, x));
          } else if constexpr (std::is_same_v<T, bool>) {
            out_.append(x ? "\"boolValue\":true" : "\"boolValue\":false");
          } else if constexpr (std::is_same_v<T, double>) {
            out_.append("\"doubleValue\":");
            real(x);
          } else {
            out_.append("\"intValue\":");
            quoted_integer(x);
          }
        },
        value);
    out_.append("}}");
  }

  // The socket's attributes of a span, from the cache when its connection's were written lately: they are
  // ~10 of a sys span's ~24 attributes and the same for every request of a connection.
  void socket_attributes(bool& first, const SysSpan& span, const SocketAttributesShape& shape) {
    auto& cached = socket_attribute_json_cache.entry_for(span, shape);
    if (cached.holds(span, shape)) {
      // The text starts with the comma that separates it from the attribute before.
      out_.append(first ? std::string_view(cached.json).substr(1) : std::string_view(cached.json));
      first = false;
      return;
    }
    const bool was_first = first;
    const std::size_t begin = out_.size();
    for_each_socket_attribute(span, shape, [&](std::string_view name, const AttributeView& value) {
      sys_attribute(first, name, value);
    });
    cached.fill(span, shape, was_first ? "," : "",
                std::string_view(out_.data() + begin, out_.size() - begin));
  }

  void resource(const otlp::Resource& r) {
    begin();
    attributes(r.attributes());
    integer_field("\"droppedAttributesCount\":", r.dropped_attributes_count());
    end();
  }

  void scope_spans(const otlp::ScopeSpans& ss) {
    begin();
    if (ss.has_scope()) {
      key("\"scope\":");
      scope(ss.scope());
    }
    if (ss.spans_size() > 0) {
      key("\"spans\":");
      list(ss.spans(), [this](const otlp::Span& s) { span(s); });
    }
    string_field("\"schemaUrl\":", ss.schema_url());
    end();
  }

  void scope(const Scope& s) {
    begin();
    string_field("\"name\":", s.name());
    string_field("\"version\":", s.version());
    attributes(s.attributes());
    integer_field("\"droppedAttributesCount\":", s.dropped_attributes_count());
    end();
  }

  void span(const otlp::Span& s) {
    begin();
    hex_field("\"traceId\":", s.trace_id());
    hex_field("\"spanId\":", s.span_id());
    string_field("\"traceState\":", s.trace_state());
    hex_field("\"parentSpanId\":", s.parent_span_id());
    integer_field("\"flags\":", s.flags());
    string_field("\"name\":", s.name());
    if (s.kind() != 0) {
      key("\"kind\":");
      integer(static_cast<int>(s.kind()));
    }
    quoted_integer_field("\"startTimeUnixNano\":", s.start_time_unix_nano());
    quoted_integer_field("\"endTimeUnixNano\":", s.end_time_unix_nano());
    attributes(s.attributes());
    integer_field("\"droppedAttributesCount\":", s.dropped_attributes_count());
    if (s.events_size() > 0) {
      key("\"events\":");
      list(s.events(), [this](const Event& e) { event(e); });
    }
    integer_field("\"droppedEventsCount\":", s.dropped_events_count());
    if (s.links_size() > 0) {
      key("\"links\":");
      list(s.links(), [this](const Link& l) { link(l); });
    }
    integer_field("\"droppedLinksCount\":", s.dropped_links_count());
    if (s.has_status()) {
      key("\"status\":");
      status(s.status());
    }
    end();
  }

  void event(const Event& e) {
    begin();
    quoted_integer_field("\"timeUnixNano\":", e.time_unix_nano());
    string_field("\"name\":", e.name());
    attributes(e.attributes());
    integer_field("\"droppedAttributesCount\":", e.dropped_attributes_count());
    end();
  }

  void link(const Link& l) {
    begin();
    hex_field("\"traceId\":", l.trace_id());
    hex_field("\"spanId\":", l.span_id());
    string_field("\"traceState\":", l.trace_state());
    attributes(l.attributes());
    integer_field("\"droppedAttributesCount\":", l.dropped_attributes_count());
    integer_field("\"flags\":", l.flags());
    end();
  }

  void status(const otlp::Status& s) {
    begin();
    string_field("\"message\":", s.message());
    if (s.code() != 0) {
      key("\"code\":");
      integer(static_cast<int>(s.code()));
    }
    end();
  }

  void attributes(const RepeatedKeyValues& kvs) {
    if (kvs.empty()) return;
    key("\"attributes\":");
    key_values(kvs);
  }

  void key_values(const RepeatedKeyValues& kvs) {
    list(kvs, [this](const otlp::KeyValue& kv) { key_value(kv); });
  }

  void key_value(const otlp::KeyValue& kv) {
    begin();
    string_field("\"key\":", kv.key());
    if (kv.has_value()) {
      key("\"value\":");
      any_value(kv.value());
    }
    end();
  }

  // A oneof member is written even when it holds its default value (proto3 JSON does the same).
  void any_value(const otlp::AnyValue& v) {
    begin();
    switch (v.value_case()) {
      case otlp::AnyValue::kStringValue:
        key("\"stringValue\":");
        string(v.string_value());
        break;
      case otlp::AnyValue::kBoolValue:
        key("\"boolValue\":");
        out_.append(v.bool_value() ? "true" : "false");
        break;
      case otlp::AnyValue::kIntValue:
        key("\"intValue\":");
        quoted_integer(v.int_value());
        break;
      case otlp::AnyValue::kDoubleValue:
        key("\"doubleValue\":");
        real(v.double_value());
        break;
      case otlp::AnyValue::kArrayValue:
        key("\"arrayValue\":");
        begin();
        if (v.array_value().values_size() > 0) {
          key("\"values\":");
          list(v.array_value().values(), [this](const otlp::AnyValue& item) { any_value(item); });
        }
        end();
        break;
      case otlp::AnyValue::kKvlistValue:
        key("\"kvlistValue\":");
        begin();
        if (v.kvlist_value().values_size() > 0) {
          key("\"values\":");
          key_values(v.kvlist_value().values());
        }
        end();
        break;
      case otlp::AnyValue::kBytesValue:
        key("\"bytesValue\":");
        base64(v.bytes_value());
        break;
      case otlp::AnyValue::VALUE_NOT_SET:
        break;
    }
    end();
  }

  OutputBuffer out_;
  bool first_ = true;  // no member written yet in the innermost open object
};

}  // namespace

namespace {
// The spans a parsed document holds, without building any: resourceSpans[*].scopeSpans[*].spans[*].
template <typename Each>
void for_each_in_array(element object, std::string_view camel, std::string_view snake, Each each) {
  simdjson::dom::object fields;
  if (object.get_object().get(fields)) return;  // not an object: the decoder will say so
  for (auto field : fields) {
    simdjson::dom::array items;
    if (!is_key(field.key, camel, snake) || field.value.get_array().get(items)) continue;
    for (element item : items) each(item);
  }
}

std::size_t count_json_spans(element root) {
  std::size_t spans = 0;
  for_each_in_array(root, "resourceSpans", "resource_spans", [&](element rs) {
    for_each_in_array(rs, "scopeSpans", "scope_spans", [&](element ss) {
      for_each_in_array(ss, "spans", "spans", [&](element) { ++spans; });
    });
  });
  return spans;
}
}  // namespace

bool decode_otlp_json(std::string_view json, otlp::ExportRequest& out, JsonDecodeError& error,
                      std::size_t max_spans) {
  out.Clear();
  error.message.clear();
  thread_local std::unique_ptr<simdjson::dom::parser> parser;
  if (!parser) parser = std::make_unique<simdjson::dom::parser>();
  element root;
  // simdjson copies the input into a padded buffer when needed, and validates UTF-8.
  auto parse_error = parser->parse(json.data(), json.size()).get(root);
  bool ok = false;
  if (parse_error) {
    error.message = std::string("invalid JSON: ") + simdjson::error_message(parse_error);
  } else if (const auto spans = count_json_spans(root); spans > max_spans) {
    error.message = "the request holds " + std::to_string(spans) + " spans, more than " +
                    std::to_string(max_spans) + " in one request";
    error.too_many_spans = true;
  } else {
    ok = Decoder(error).request(root, out);
  }
  if (parser->capacity() > kParserKeepCapacity) parser.reset();
  if (!ok) out.Clear();
  return ok;
}

std::string encode_otlp_json(const otlp::ExportRequest& request) {
  std::string out;
  out.reserve(256);
  Encoder(out).request(request);
  return out;
}

std::string encode_otlp_json(std::span<const otlp::ExportRequest* const> parts) {
  std::string out;
  out.reserve(256);
  encode_otlp_json_into(parts, out);
  return out;
}

void encode_otlp_json_into(std::span<const otlp::ExportRequest* const> parts, std::string& out) {
  out.clear();
  Encoder(out).requests(parts);
}

void encode_otlp_json_into(std::span<const SpanBatch* const> batches, std::string& out) {
  out.clear();
  Encoder(out).batches(batches);
}

void JsonLineBuffer::push_back(char c) {
  if (used_ == storage_.size()) storage_.resize(std::max<std::size_t>(2 * storage_.size(), 64));
  storage_[used_++] = c;
}

void JsonLineBuffer::release_if_over(std::size_t max_kept_bytes) {
  if (storage_.capacity() <= max_kept_bytes) return;
  std::string().swap(storage_);
  used_ = 0;
}

void encode_otlp_json_into(std::span<const otlp::ExportRequest* const> parts, JsonLineBuffer& out) {
  Encoder(out.storage_, &out.used_).requests(parts);
}

void encode_otlp_json_into(std::span<const SpanBatch* const> batches, JsonLineBuffer& out) {
  Encoder(out.storage_, &out.used_).batches(batches);
}

std::string encode_otlp_json(const otlp::ExportResponse& response) {
  std::string out;
  Encoder(out).response(response);
  return out;
}

}  // namespace otelbpf
