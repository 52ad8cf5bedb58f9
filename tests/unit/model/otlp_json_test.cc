#include "model/otlp_json.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace otelbpf {
namespace {

using google::protobuf::util::MessageDifferencer;
using Span = otlp::Span;
using namespace std::string_literals;

otlp::ExportRequest decode_ok(std::string_view json) {
  otlp::ExportRequest request;
  JsonDecodeError error;
  EXPECT_TRUE(decode_otlp_json(json, request, error)) << error.message << "\nJSON: " << json;
  EXPECT_TRUE(error.message.empty());
  return request;
}

std::string decode_error(std::string_view json) {
  otlp::ExportRequest request;
  JsonDecodeError error;
  EXPECT_FALSE(decode_otlp_json(json, request, error)) << "JSON: " << json;
  EXPECT_EQ(request.resource_spans_size(), 0) << "output is cleared on failure";
  EXPECT_FALSE(error.message.empty());
  return error.message;
}

bool is_valid_json(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(json).get(root) == simdjson::SUCCESS;
}

// Wraps one span JSON object into a full request.
std::string with_span(std::string_view span) {
  return R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + std::string(span) + "]}]}]}";
}

// Wraps one attribute value JSON object into a request whose single span carries it as attribute "a".
std::string with_value(std::string_view value) {
  return with_span(R"({"attributes":[{"key":"a","value":)" + std::string(value) + "}]}");
}

const Span& only_span(const otlp::ExportRequest& request) {
  return request.resource_spans(0).scope_spans(0).spans(0);
}

otlp::AnyValue decode_value(std::string_view value) {
  auto request = decode_ok(with_value(value));
  if (request.resource_spans_size() != 1) return {};
  return only_span(request).attributes(0).value();
}

std::string bytes(std::initializer_list<unsigned> values) {
  std::string s;
  for (unsigned v : values) s.push_back(static_cast<char>(v));
  return s;
}

const std::string kTraceId =
    bytes({0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c});
const std::string kSpanId = bytes({0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74});
const std::string kParentId = bytes({0x00, 0x01, 0x02, 0x03, 0xfa, 0xfb, 0xfc, 0xfd});

void add_attr(google::protobuf::RepeatedPtrField<otlp::KeyValue>* attrs, const std::string& key,
              const otlp::AnyValue& value) {
  auto* kv = attrs->Add();
  kv->set_key(key);
  *kv->mutable_value() = value;
}

otlp::AnyValue str_value(const std::string& s) {
  otlp::AnyValue v;
  v.set_string_value(s);
  return v;
}
otlp::AnyValue int_value(std::int64_t i) {
  otlp::AnyValue v;
  v.set_int_value(i);
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Attribute value types.

TEST(OtlpJsonValues, DecodesEveryAnyValueType) {
  EXPECT_EQ(decode_value(R"({"stringValue":"hi"})").string_value(), "hi");
  EXPECT_TRUE(decode_value(R"({"boolValue":true})").bool_value());
  auto f = decode_value(R"({"boolValue":false})");
  EXPECT_EQ(f.value_case(), otlp::AnyValue::kBoolValue);
  EXPECT_FALSE(f.bool_value());
  EXPECT_EQ(decode_value(R"({"intValue":"-42"})").int_value(), -42);
  EXPECT_EQ(decode_value(R"({"intValue":42})").int_value(), 42);
  EXPECT_EQ(decode_value(R"({"intValue":"9223372036854775807"})").int_value(),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(decode_value(R"({"intValue":-9223372036854775808})").int_value(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(decode_value(R"({"intValue":1e3})").int_value(), 1000);
  EXPECT_DOUBLE_EQ(decode_value(R"({"doubleValue":1.5})").double_value(), 1.5);
  EXPECT_DOUBLE_EQ(decode_value(R"({"doubleValue":3})").double_value(), 3.0);
  EXPECT_DOUBLE_EQ(decode_value(R"({"doubleValue":"2.25"})").double_value(), 2.25);
  EXPECT_TRUE(std::isnan(decode_value(R"({"doubleValue":"NaN"})").double_value()));
  EXPECT_EQ(decode_value(R"({"doubleValue":"Infinity"})").double_value(),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(decode_value(R"({"doubleValue":"-Infinity"})").double_value(),
            -std::numeric_limits<double>::infinity());
  EXPECT_EQ(decode_value(R"({"bytesValue":"AAEC/w=="})").bytes_value(), bytes({0, 1, 2, 255}));
  EXPECT_EQ(decode_value(R"({"bytesValue":"AAEC_w"})").bytes_value(),
            bytes({0, 1, 2, 255}));  // URL-safe, no pad
  EXPECT_EQ(decode_value(R"({"bytesValue":""})").value_case(), otlp::AnyValue::kBytesValue);

  auto array = decode_value(R"({"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"7"},{}]}})");
  ASSERT_EQ(array.array_value().values_size(), 3);
  EXPECT_EQ(array.array_value().values(0).string_value(), "x");
  EXPECT_EQ(array.array_value().values(1).int_value(), 7);
  EXPECT_EQ(array.array_value().values(2).value_case(), otlp::AnyValue::VALUE_NOT_SET);

  auto kvlist = decode_value(
      R"({"kvlistValue":{"values":[{"key":"k1","value":{"boolValue":true}},{"key":"k2","value":{"kvlistValue":{}}}]}})");
  ASSERT_EQ(kvlist.kvlist_value().values_size(), 2);
  EXPECT_EQ(kvlist.kvlist_value().values(0).key(), "k1");
  EXPECT_TRUE(kvlist.kvlist_value().values(0).value().bool_value());
  EXPECT_EQ(kvlist.kvlist_value().values(1).value().value_case(), otlp::AnyValue::kKvlistValue);

  EXPECT_EQ(decode_value(R"({"arrayValue":{}})").value_case(), otlp::AnyValue::kArrayValue);
  EXPECT_EQ(decode_value(R"({})").value_case(), otlp::AnyValue::VALUE_NOT_SET);
}

TEST(OtlpJsonValues, EncodesEveryAnyValueType) {
  struct Case {
    otlp::AnyValue value;
    std::string json;
  };
  std::vector<Case> cases;
  cases.push_back({str_value("hi"), R"({"stringValue":"hi"})"});
  cases.push_back({str_value(""), R"({"stringValue":""})"});  // oneof members are written even if default
  {
    otlp::AnyValue v;
    v.set_bool_value(false);
    cases.push_back({v, R"({"boolValue":false})"});
    v.set_bool_value(true);
    cases.push_back({v, R"({"boolValue":true})"});
  }
  cases.push_back({int_value(0), R"({"intValue":"0"})"});
  cases.push_back(
      {int_value(std::numeric_limits<std::int64_t>::min()), R"({"intValue":"-9223372036854775808"})"});
  {
    otlp::AnyValue v;
    v.set_double_value(1.5);
    cases.push_back({v, R"({"doubleValue":1.5})"});
    v.set_double_value(0.1);
    cases.push_back({v, R"({"doubleValue":0.1})"});
    v.set_double_value(0);
    cases.push_back({v, R"({"doubleValue":0})"});
    v.set_double_value(-0.0);
    cases.push_back({v, R"({"doubleValue":-0.0})"});
    v.set_double_value(1e300);
    cases.push_back({v, R"({"doubleValue":1e+300})"});
    v.set_double_value(std::numeric_limits<double>::quiet_NaN());
    cases.push_back({v, R"({"doubleValue":"NaN"})"});
    v.set_double_value(std::numeric_limits<double>::infinity());
    cases.push_back({v, R"({"doubleValue":"Infinity"})"});
    v.set_double_value(-std::numeric_limits<double>::infinity());
    cases.push_back({v, R"({"doubleValue":"-Infinity"})"});
  }
  {
    otlp::AnyValue v;
    v.set_bytes_value(bytes({0, 1, 2, 255}));
    cases.push_back({v, R"({"bytesValue":"AAEC/w=="})"});
    v.set_bytes_value("ab");
    cases.push_back({v, R"({"bytesValue":"YWI="})"});
    v.set_bytes_value("abc");
    cases.push_back({v, R"({"bytesValue":"YWJj"})"});
  }
  {
    otlp::AnyValue v;
    v.mutable_array_value();
    cases.push_back({v, R"({"arrayValue":{}})"});
    *v.mutable_array_value()->add_values() = str_value("x");
    *v.mutable_array_value()->add_values() = int_value(7);
    v.mutable_array_value()->add_values();
    cases.push_back({v, R"({"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"7"},{}]}})"});
  }
  {
    otlp::AnyValue v;
    v.mutable_kvlist_value();
    cases.push_back({v, R"({"kvlistValue":{}})"});
    add_attr(v.mutable_kvlist_value()->mutable_values(), "k", str_value("v"));
    v.mutable_kvlist_value()->add_values()->set_key("novalue");
    cases.push_back(
        {v, R"({"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}},{"key":"novalue"}]}})"});
  }
  cases.push_back({otlp::AnyValue(), "{}"});

  for (const auto& c : cases) {
    otlp::ExportRequest request;
    add_attr(request.add_resource_spans()->mutable_resource()->mutable_attributes(), "a", c.value);
    std::string expected =
        R"({"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":)" + c.json + "}]}}]}";
    std::string json = encode_otlp_json(request);
    EXPECT_EQ(json, expected);
    EXPECT_TRUE(is_valid_json(json)) << json;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoder format.

TEST(OtlpJsonEncode, CanonicalSpan) {
  otlp::ExportRequest request;
  auto* rs = request.add_resource_spans();
  add_attr(rs->mutable_resource()->mutable_attributes(), "service.name", str_value("svc"));
  rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("lib");
  auto* span = ss->add_spans();
  span->set_trace_id(kTraceId);
  span->set_span_id(kSpanId);
  span->set_parent_span_id(kParentId);
  span->set_name("GET /");
  span->set_kind(Span::SPAN_KIND_SERVER);
  span->set_start_time_unix_nano(1700000000123456789ull);
  span->set_end_time_unix_nano(std::numeric_limits<std::uint64_t>::max());
  span->set_flags(0x101);
  span->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
  span->mutable_status()->set_message("boom");
  span->set_dropped_links_count(3);
  EXPECT_EQ(
      encode_otlp_json(request),
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},)"
      R"("scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",)"
      R"("spanId":"eee19b7ec3c1b174","parentSpanId":"00010203fafbfcfd","flags":257,"name":"GET /","kind":2,)"
      R"("startTimeUnixNano":"1700000000123456789","endTimeUnixNano":"18446744073709551615",)"
      R"("droppedLinksCount":3,"status":{"message":"boom","code":2}}]}],)"
      R"("schemaUrl":"https://opentelemetry.io/schemas/1.21.0"}]})");
}

TEST(OtlpJsonEncode, DefaultsOmittedButPresentMessagesKept) {
  EXPECT_EQ(encode_otlp_json(otlp::ExportRequest()), "{}");
  otlp::ExportRequest request;
  auto* rs = request.add_resource_spans();
  rs->mutable_resource();
  rs->add_scope_spans()->add_spans()->mutable_status();
  EXPECT_EQ(encode_otlp_json(request),
            R"({"resourceSpans":[{"resource":{},"scopeSpans":[{"spans":[{"status":{}}]}]}]})");
  // Round trip keeps message presence.
  auto decoded = decode_ok(encode_otlp_json(request));
  EXPECT_TRUE(MessageDifferencer::Equals(decoded, request));
}

TEST(OtlpJsonEncode, SeveralRequestsAreEncodedAsTheirMerge) {
  auto request_of = [](const std::string& service, int spans) {
    otlp::ExportRequest r;
    auto* rs = r.add_resource_spans();
    add_attr(rs->mutable_resource()->mutable_attributes(), "service.name", str_value(service));
    auto* ss = rs->add_scope_spans();
    for (int i = 0; i < spans; ++i) ss->add_spans()->set_name(service + std::to_string(i));
    return r;
  };
  const auto a = request_of("a", 2), b = request_of("b", 1);
  const otlp::ExportRequest empty;
  otlp::ExportRequest merged = a;
  merged.MergeFrom(empty);
  merged.MergeFrom(b);
  const otlp::ExportRequest* parts[] = {&a, &empty, &b};
  EXPECT_EQ(encode_otlp_json(parts), encode_otlp_json(merged));
  const otlp::ExportRequest* nothing[] = {&empty, &empty};
  EXPECT_EQ(encode_otlp_json(nothing), "{}");
  EXPECT_EQ(encode_otlp_json(std::span<const otlp::ExportRequest* const>{}), "{}");
}

TEST(OtlpJsonEncode, EscapesStrings) {
  otlp::ExportRequest request;
  auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_name("q\"b\\s/\n\r\t\b\f\x01\x1f\x7f"s + std::string(1, '\0') + "é✓🚀");
  EXPECT_EQ(encode_otlp_json(request),
            R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"q\"b\\s/\n\r\t\b\f\u0001\u001f)"
            "\x7f\\u0000é✓🚀\"}]}]}]}");
}

// The encoder skips plain ASCII a word (8 bytes) at a time: a character that needs escaping, or a multi-byte
// UTF-8 sequence, at any position of a word, or straddling two, is still encoded.
TEST(OtlpJsonEncode, EscapesAtEveryPositionOfAWord) {
  std::vector<std::string> specials = {"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f", "é", "✓", "🚀"};
  for (char c = 1; c < 0x20; ++c) specials.emplace_back(1, c);
  for (const auto& special : specials) {
    for (std::size_t at = 0; at < 20; ++at)
      for (std::size_t after : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, 20 - at}) {
        // Every length of a last partial word, which the encoder tests as a word overlapping the one
        // before it (text shorter than a word: byte by byte).
        std::string text = std::string(at, 'a') + special + std::string(after, 'z');
        otlp::ExportRequest request;
        auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
        span->set_name(text);
        const std::string json = encode_otlp_json(request);
        ASSERT_TRUE(is_valid_json(json)) << json;
        auto decoded = decode_ok(json);
        EXPECT_EQ(decoded.resource_spans(0).scope_spans(0).spans(0).name(), text) << json;
      }
  }
}

// The file exporter's kept line buffer: a short line after a long one holds only the short one.
TEST(OtlpJsonEncode, AKeptLineBufferHoldsOnlyTheLastLine) {
  auto request_of = [](int spans) {
    otlp::ExportRequest r;
    auto* ss = r.add_resource_spans()->add_scope_spans();
    for (int i = 0; i < spans; ++i) ss->add_spans()->set_name("span-" + std::to_string(i));
    return r;
  };
  const auto big = request_of(2000), small = request_of(1);
  JsonLineBuffer line;
  for (const auto* request : {&big, &small, &big}) {
    const otlp::ExportRequest* parts[] = {request};
    encode_otlp_json_into(parts, line);
    EXPECT_EQ(line.view(), encode_otlp_json(*request));
  }
  line.push_back('\n');
  EXPECT_EQ(line.view(), encode_otlp_json(big) + "\n");
  line.release_if_over(0);
  EXPECT_EQ(line.size(), 0u);
}

TEST(OtlpJsonEncode, ReplacesInvalidUtf8) {
  const std::string bad[] = {
      "\xff",
      "\x80",
      "\xc0\xaf",  // overlong '/'
      "\xe0\x80\xaf",
      "\xed\xa0\x80",      // overlong, UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xe2\x9c",          // truncated
      "\xf0\x9f\x9a",      // truncated
  };
  for (const auto& b : bad) {
    otlp::ExportRequest request;
    request.add_resource_spans()->set_schema_url("a" + b + "z");
    std::string json = encode_otlp_json(request);
    EXPECT_TRUE(is_valid_json(json)) << json;
    auto decoded = decode_ok(json);
    const std::string& url = decoded.resource_spans(0).schema_url();
    EXPECT_EQ(url.front(), 'a');
    EXPECT_EQ(url.back(), 'z');
    EXPECT_NE(url.find("\xEF\xBF\xBD"), std::string::npos) << url;
  }
  otlp::ExportRequest request;
  request.add_resource_spans()->set_schema_url("\xff\xfe");
  EXPECT_EQ(encode_otlp_json(request), "{\"resourceSpans\":[{\"schemaUrl\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"}]}");
}

TEST(OtlpJsonEncode, Response) {
  otlp::ExportResponse response;
  EXPECT_EQ(encode_otlp_json(response), "{}");
  response.mutable_partial_success();
  EXPECT_EQ(encode_otlp_json(response), "{}");
  response.mutable_partial_success()->set_rejected_spans(5);
  EXPECT_EQ(encode_otlp_json(response), R"({"partialSuccess":{"rejectedSpans":"5"}})");
  response.mutable_partial_success()->set_error_message("queue \"full\"");
  EXPECT_EQ(encode_otlp_json(response),
            R"({"partialSuccess":{"rejectedSpans":"5","errorMessage":"queue \"full\""}})");
  response.mutable_partial_success()->set_rejected_spans(0);
  EXPECT_EQ(encode_otlp_json(response), R"({"partialSuccess":{"errorMessage":"queue \"full\""}})");
}

// ---------------------------------------------------------------------------------------------------------
// Round trip.

otlp::ExportRequest rich_request() {
  otlp::ExportRequest request;
  for (int r = 0; r < 2; ++r) {
    auto* rs = request.add_resource_spans();
    rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
    auto* resource = rs->mutable_resource();
    add_attr(resource->mutable_attributes(), "service.name", str_value("checkout-" + std::to_string(r)));
    add_attr(resource->mutable_attributes(), "host.name", str_value("naïve-höst-日本"));
    resource->set_dropped_attributes_count(4);
    for (int s = 0; s < 2; ++s) {
      auto* ss = rs->add_scope_spans();
      ss->set_schema_url("https://example.com/scope-schema");
      auto* scope = ss->mutable_scope();
      scope->set_name("@opentelemetry/instrumentation-http");
      scope->set_version("0.45.1");
      add_attr(scope->mutable_attributes(), "scope.attr", int_value(-1));
      scope->set_dropped_attributes_count(1);

      auto* span = ss->add_spans();
      span->set_trace_id(kTraceId);
      span->set_span_id(kSpanId);
      span->set_parent_span_id(kParentId);
      span->set_trace_state("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
      span->set_flags(0x301);
      span->set_name("GET /api/users/{id} \"quoted\" \\ \n 🚀");
      span->set_kind(Span::SPAN_KIND_CLIENT);
      span->set_start_time_unix_nano(1700000000123456789ull);
      span->set_end_time_unix_nano(std::numeric_limits<std::uint64_t>::max());
      auto* attrs = span->mutable_attributes();
      add_attr(attrs, "string", str_value("value ünïcödé \x01 \x7f"));
      add_attr(attrs, "empty.string", str_value(""));
      add_attr(attrs, "int.max", int_value(std::numeric_limits<std::int64_t>::max()));
      add_attr(attrs, "int.min", int_value(std::numeric_limits<std::int64_t>::min()));
      add_attr(attrs, "int.zero", int_value(0));
      otlp::AnyValue v;
      v.set_bool_value(true);
      add_attr(attrs, "bool.true", v);
      v.set_bool_value(false);
      add_attr(attrs, "bool.false", v);
      for (double d : {0.0, -0.0, 0.1, -1.5e-300, 1.7976931348623157e308, 4.9e-324, 123456789.0,
                       std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
        v.set_double_value(d);
        add_attr(attrs, "double", v);
      }
      std::string all_bytes;
      for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
      v.set_bytes_value(all_bytes);
      add_attr(attrs, "bytes", v);
      v.set_bytes_value("");
      add_attr(attrs, "bytes.empty", v);
      otlp::AnyValue nested;
      auto* array = nested.mutable_array_value();
      *array->add_values() = str_value("a");
      *array->add_values() = int_value(2);
      array->add_values();  // empty AnyValue
      auto* inner = array->add_values()->mutable_kvlist_value();
      add_attr(inner->mutable_values(), "deep", str_value("x"));
      inner->add_values()->set_key("no.value");
      add_attr(inner->mutable_values(), "", int_value(3));  // empty key
      auto* inner_array = array->add_values()->mutable_array_value();
      inner_array->add_values()->mutable_array_value();
      add_attr(attrs, "nested", nested);
      attrs->Add()->set_key("absent.value");
      add_attr(attrs, "empty.value", otlp::AnyValue());
      span->set_dropped_attributes_count(7);

      auto* event = span->add_events();
      event->set_time_unix_nano(1700000000200000000ull);
      event->set_name("exception");
      add_attr(event->mutable_attributes(), "exception.message", str_value("line1\nline2\ttab"));
      event->set_dropped_attributes_count(2);
      span->add_events()->set_name("bare");
      span->set_dropped_events_count(9);

      auto* link = span->add_links();
      link->set_trace_id(std::string(16, '\xab'));
      link->set_span_id(std::string(8, '\x01'));
      link->set_trace_state("k=v");
      add_attr(link->mutable_attributes(), "link.attr", str_value("l"));
      link->set_dropped_attributes_count(5);
      link->set_flags(0x100);
      span->add_links()->set_span_id(kSpanId);
      span->set_dropped_links_count(11);

      span->mutable_status()->set_message("error: ∅");
      span->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);

      // A second, sparse span and one with an enum value unknown to our schema.
      auto* sparse = ss->add_spans();
      sparse->set_trace_id(kTraceId);
      sparse->set_span_id(kParentId);
      sparse->set_kind(static_cast<Span::SpanKind>(42));
      sparse->mutable_status()->set_code(static_cast<otlp::Status::StatusCode>(7));
    }
  }
  request.add_resource_spans();  // empty one
  return request;
}

TEST(OtlpJsonRoundTrip, RichRequest) {
  const otlp::ExportRequest original = rich_request();
  std::string json = encode_otlp_json(original);
  EXPECT_TRUE(is_valid_json(json));
  EXPECT_EQ(json.find('\n'), std::string::npos) << "one line";
  otlp::ExportRequest decoded = decode_ok(json);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(original, decoded)) << diff;
  // And the encoding is stable.
  EXPECT_EQ(encode_otlp_json(decoded), json);
  // Negative zero keeps its sign.
  const auto& attrs = decoded.resource_spans(0).scope_spans(0).spans(0).attributes();
  int negative_zeros = 0;
  for (const auto& kv : attrs) {
    if (kv.value().has_double_value() && kv.value().double_value() == 0 &&
        std::signbit(kv.value().double_value())) {
      ++negative_zeros;
    }
  }
  EXPECT_EQ(negative_zeros, 1);
}

TEST(OtlpJsonRoundTrip, NaN) {
  otlp::ExportRequest request;
  otlp::AnyValue v;
  v.set_double_value(std::numeric_limits<double>::quiet_NaN());
  add_attr(request.add_resource_spans()->mutable_resource()->mutable_attributes(), "nan", v);
  auto decoded = decode_ok(encode_otlp_json(request));
  EXPECT_TRUE(std::isnan(decoded.resource_spans(0).resource().attributes(0).value().double_value()));
}

TEST(OtlpJsonRoundTrip, LargeIntegralDoublesKeepTheirExponent) {
  // Their shortest form ties with a 20+ digit integer (the fuzzer's find: 2222222222222222163968), which
  // no 64-bit integer holds and simdjson refuses.
  for (double d : {2.2222222222222222e21, -2.2222222222222222e21, 1e19, 1.8446744073709552e19, 1e300, 4e15}) {
    otlp::ExportRequest request;
    otlp::AnyValue v;
    v.set_double_value(d);
    add_attr(request.add_resource_spans()->mutable_resource()->mutable_attributes(), "d", v);
    const auto json = encode_otlp_json(request);
    auto decoded = decode_ok(json);
    EXPECT_EQ(decoded.resource_spans(0).resource().attributes(0).value().double_value(), d) << json;
  }
}

TEST(OtlpJsonRoundTrip, RandomBytesGiveValidJson) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 40);
  for (int iteration = 0; iteration < 300; ++iteration) {
    auto random_bytes = [&] {
      std::string s(static_cast<std::size_t>(length(rng)), '\0');
      for (auto& c : s) c = static_cast<char>(byte(rng));
      return s;
    };
    otlp::ExportRequest request;
    auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
    span->set_name(random_bytes());
    span->set_trace_state(random_bytes());
    span->set_trace_id(random_bytes().substr(0, 16));
    for (int i = 0; i < 4; ++i)
      add_attr(span->mutable_attributes(), random_bytes(), str_value(random_bytes()));
    otlp::AnyValue b;
    b.set_bytes_value(random_bytes());
    add_attr(span->mutable_attributes(), "bytes", b);
    std::string json = encode_otlp_json(request);
    ASSERT_TRUE(is_valid_json(json)) << json;
    // Our own decoder accepts it too, except for trace ids whose random length is not 16 bytes.
    otlp::ExportRequest decoded;
    JsonDecodeError error;
    bool ok = decode_otlp_json(json, decoded, error);
    std::size_t id_size = span->trace_id().size();
    EXPECT_EQ(ok, id_size == 0 || id_size == 16) << error.message;
    if (ok) {
      EXPECT_EQ(decoded.resource_spans(0).scope_spans(0).spans(0).attributes(4).value().bytes_value(),
                b.bytes_value());
    }
  }
}

TEST(OtlpJsonRoundTrip, RandomValidUtf8IsPreserved) {
  std::mt19937 rng(777);
  std::uniform_int_distribution<std::uint32_t> code_point(0, 0x10ffff);
  auto append_utf8 = [](std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xc0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xe0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      s += static_cast<char>(0xf0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    }
  };
  otlp::ExportRequest request;
  auto* attrs = request.add_resource_spans()->mutable_resource()->mutable_attributes();
  for (int i = 0; i < 200; ++i) {
    std::string s;
    for (int j = 0; j < 20; ++j) {
      std::uint32_t cp = i % 2 ? code_point(rng) : code_point(rng) % 0x80;
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      append_utf8(s, cp);
    }
    add_attr(attrs, s, str_value(s));
  }
  auto decoded = decode_ok(encode_otlp_json(request));
  EXPECT_TRUE(MessageDifferencer::Equals(decoded, request));
}

// ---------------------------------------------------------------------------------------------------------
// Quirks senders produce.

TEST(OtlpJsonQuirks, UpperCaseHexIdsAndEmptyIds) {
  auto request = decode_ok(with_span(
      R"({"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19b7ec3c1B174","parentSpanId":"",)"
      R"("links":[{"traceId":"5b8efff798038103D269B633813FC60C","spanId":"00010203FAFBFCFD"}]})"));
  const auto& span = only_span(request);
  EXPECT_EQ(span.trace_id(), kTraceId);
  EXPECT_EQ(span.span_id(), kSpanId);
  EXPECT_TRUE(span.parent_span_id().empty());
  EXPECT_EQ(span.links(0).trace_id(), kTraceId);
  EXPECT_EQ(span.links(0).span_id(), kParentId);
}

TEST(OtlpJsonQuirks, Int64AsStringOrNumber) {
  auto request = decode_ok(
      with_span(R"({"startTimeUnixNano":"1700000000123456789","endTimeUnixNano":1700000000223456789,)"
                R"("events":[{"timeUnixNano":18446744073709551615},{"timeUnixNano":"18446744073709551615"},)"
                R"({"timeUnixNano":1.7e18},{"timeUnixNano":{"low":1,"high":2}},{"timeUnixNano":"+5"}],)"
                R"("attributes":[{"key":"s","value":{"intValue":"-7"}},{"key":"n","value":{"intValue":-7}}],)"
                R"("droppedAttributesCount":"3","flags":"257"})"));
  const auto& span = only_span(request);
  EXPECT_EQ(span.start_time_unix_nano(), 1700000000123456789ull);
  EXPECT_EQ(span.end_time_unix_nano(), 1700000000223456789ull);
  EXPECT_EQ(span.events(0).time_unix_nano(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(span.events(1).time_unix_nano(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(span.events(2).time_unix_nano(), 1700000000000000000ull);
  EXPECT_EQ(span.events(3).time_unix_nano(), (2ull << 32) | 1);
  EXPECT_EQ(span.events(4).time_unix_nano(), 5u);
  EXPECT_EQ(span.attributes(0).value().int_value(), -7);
  EXPECT_EQ(span.attributes(1).value().int_value(), -7);
  EXPECT_EQ(span.dropped_attributes_count(), 3u);
  EXPECT_EQ(span.flags(), 257u);
}

TEST(OtlpJsonQuirks, EnumsAsNumbersOrNames) {
  auto request = decode_ok(R"({"resourceSpans":[{"scopeSpans":[{"spans":[
      {"kind":2,"status":{"code":2}},
      {"kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_OK"}},
      {"kind":"3","status":{"code":"STATUS_CODE_UNSET"}},
      {"kind":99}]}]}]})");
  const auto& spans = request.resource_spans(0).scope_spans(0).spans();
  EXPECT_EQ(spans[0].kind(), Span::SPAN_KIND_SERVER);
  EXPECT_EQ(spans[0].status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(spans[1].kind(), Span::SPAN_KIND_CONSUMER);
  EXPECT_EQ(spans[1].status().code(), otlp::Status::STATUS_CODE_OK);
  EXPECT_EQ(spans[2].kind(), Span::SPAN_KIND_CLIENT);
  EXPECT_TRUE(spans[2].has_status());
  EXPECT_EQ(static_cast<int>(spans[3].kind()), 99);  // open enum: kept
}

TEST(OtlpJsonQuirks, SnakeCaseKeys) {
  auto request = decode_ok(R"({"resource_spans":[{"schema_url":"s","resource":{"dropped_attributes_count":1},
      "scope_spans":[{"schema_url":"t","scope":{"name":"n","dropped_attributes_count":2},"spans":[{
        "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
        "parent_span_id":"00010203fafbfcfd","trace_state":"a=b","start_time_unix_nano":"1",
        "end_time_unix_nano":"2","dropped_attributes_count":3,"dropped_events_count":4,"dropped_links_count":5,
        "attributes":[
          {"key":"s","value":{"string_value":"x"}},{"key":"b","value":{"bool_value":true}},
          {"key":"i","value":{"int_value":"1"}},{"key":"d","value":{"double_value":2.5}},
          {"key":"by","value":{"bytes_value":"AQ=="}},
          {"key":"a","value":{"array_value":{"values":[{"int_value":1}]}}},
          {"key":"k","value":{"kvlist_value":{"values":[{"key":"z","value":{"int_value":2}}]}}}],
        "events":[{"time_unix_nano":"9","name":"e","dropped_attributes_count":6}],
        "links":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
                  "trace_state":"c=d","dropped_attributes_count":7,"flags":1}]}]}]}]})");
  const auto& rs = request.resource_spans(0);
  EXPECT_EQ(rs.schema_url(), "s");
  EXPECT_EQ(rs.resource().dropped_attributes_count(), 1u);
  EXPECT_EQ(rs.scope_spans(0).schema_url(), "t");
  EXPECT_EQ(rs.scope_spans(0).scope().dropped_attributes_count(), 2u);
  const auto& span = rs.scope_spans(0).spans(0);
  EXPECT_EQ(span.trace_id(), kTraceId);
  EXPECT_EQ(span.span_id(), kSpanId);
  EXPECT_EQ(span.parent_span_id(), kParentId);
  EXPECT_EQ(span.trace_state(), "a=b");
  EXPECT_EQ(span.start_time_unix_nano(), 1u);
  EXPECT_EQ(span.end_time_unix_nano(), 2u);
  EXPECT_EQ(span.dropped_attributes_count(), 3u);
  EXPECT_EQ(span.dropped_events_count(), 4u);
  EXPECT_EQ(span.dropped_links_count(), 5u);
  ASSERT_EQ(span.attributes_size(), 7);
  EXPECT_EQ(span.attributes(0).value().string_value(), "x");
  EXPECT_TRUE(span.attributes(1).value().bool_value());
  EXPECT_EQ(span.attributes(2).value().int_value(), 1);
  EXPECT_EQ(span.attributes(3).value().double_value(), 2.5);
  EXPECT_EQ(span.attributes(4).value().bytes_value(), bytes({1}));
  EXPECT_EQ(span.attributes(5).value().array_value().values(0).int_value(), 1);
  EXPECT_EQ(span.attributes(6).value().kvlist_value().values(0).value().int_value(), 2);
  EXPECT_EQ(span.events(0).time_unix_nano(), 9u);
  EXPECT_EQ(span.events(0).dropped_attributes_count(), 6u);
  EXPECT_EQ(span.links(0).trace_state(), "c=d");
  EXPECT_EQ(span.links(0).dropped_attributes_count(), 7u);
  EXPECT_EQ(span.links(0).flags(), 1u);
}

TEST(OtlpJsonQuirks, NullsAndUnknownFields) {
  auto request = decode_ok(R"({"futureTopLevel":{"x":[1,2,{"y":null}]},"resourceSpans":[null,{
      "resource":null,"schemaUrl":null,"unknownField":[[[[]]]],
      "scopeSpans":[{"scope":null,"spans":[{"traceId":null,"spanId":"eee19b7ec3c1b174","name":null,
        "status":null,"events":null,"links":[null],"kind":null,"newField":{"deep":true},
        "attributes":[{"key":"a","value":null},{"key":"b","value":{"stringValue":null,"intValue":3}},
                      {"key":"c","value":{"futureValue":{"x":1},"boolValue":true}}]}]}]}]})");
  ASSERT_EQ(request.resource_spans_size(), 1);  // the null element is skipped
  const auto& rs = request.resource_spans(0);
  EXPECT_FALSE(rs.has_resource());
  const auto& span = rs.scope_spans(0).spans(0);
  EXPECT_FALSE(rs.scope_spans(0).has_scope());
  EXPECT_TRUE(span.trace_id().empty());
  EXPECT_EQ(span.span_id(), kSpanId);
  EXPECT_FALSE(span.has_status());
  EXPECT_EQ(span.links_size(), 0);
  EXPECT_FALSE(span.attributes(0).has_value());
  EXPECT_EQ(span.attributes(1).value().int_value(), 3);
  EXPECT_TRUE(span.attributes(2).value().bool_value());
}

TEST(OtlpJsonQuirks, EmptyDocumentsAndWhitespace) {
  EXPECT_EQ(decode_ok("{}").resource_spans_size(), 0);
  EXPECT_EQ(decode_ok(" \n\t{ \"resourceSpans\" : [ ] }\r\n").resource_spans_size(), 0);
  EXPECT_EQ(decode_ok(R"({"resourceSpans":[{}]})").resource_spans_size(), 1);
}

TEST(OtlpJsonQuirks, EscapedStringsAreUnescaped) {
  auto request = decode_ok(with_span(R"({"name":"a\"b\\c\/d\n\u00e9\ud83d\ude80\u0000"})"));
  EXPECT_EQ(only_span(request).name(), "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x9a\x80\0"s);
}

TEST(OtlpJsonQuirks, DecodeReplacesPreviousContent) {
  otlp::ExportRequest request = rich_request();
  JsonDecodeError error;
  ASSERT_TRUE(decode_otlp_json(R"({"resourceSpans":[{}]})", request, error));
  EXPECT_EQ(request.resource_spans_size(), 1);
}

// ---------------------------------------------------------------------------------------------------------
// Real-world sender: the OpenTelemetry JS SDK's @opentelemetry/exporter-trace-otlp-http (JSON
// serializer of @opentelemetry/otlp-transformer), as seen on the wire.

constexpr char kJsSdkExport[] = R"({"resourceSpans":[{"resource":{"attributes":[
{"key":"service.name","value":{"stringValue":"frontend"}},
{"key":"telemetry.sdk.language","value":{"stringValue":"nodejs"}},
{"key":"telemetry.sdk.name","value":{"stringValue":"opentelemetry"}},
{"key":"telemetry.sdk.version","value":{"stringValue":"1.18.1"}},
{"key":"process.pid","value":{"intValue":48213}},
{"key":"process.executable.name","value":{"stringValue":"node"}},
{"key":"process.command_args","value":{"arrayValue":{"values":[{"stringValue":"/usr/local/bin/node"},{"stringValue":"/app/server.js"}]}}},
{"key":"process.runtime.version","value":{"stringValue":"20.10.0"}}],"droppedAttributesCount":0},
"scopeSpans":[{"scope":{"name":"@opentelemetry/instrumentation-http","version":"0.45.1"},"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET","kind":2,
"startTimeUnixNano":"1700000000123456789","endTimeUnixNano":"1700000000170456789",
"attributes":[{"key":"http.url","value":{"stringValue":"http://localhost:8080/api/users?id=1"}},
{"key":"http.host","value":{"stringValue":"localhost:8080"}},
{"key":"net.host.name","value":{"stringValue":"localhost"}},
{"key":"http.method","value":{"stringValue":"GET"}},
{"key":"http.scheme","value":{"stringValue":"http"}},
{"key":"http.target","value":{"stringValue":"/api/users?id=1"}},
{"key":"http.user_agent","value":{"stringValue":"curl/7.88.1"}},
{"key":"http.flavor","value":{"stringValue":"1.1"}},
{"key":"net.transport","value":{"stringValue":"ip_tcp"}},
{"key":"net.host.ip","value":{"stringValue":"::ffff:127.0.0.1"}},
{"key":"net.host.port","value":{"intValue":8080}},
{"key":"net.peer.ip","value":{"stringValue":"::ffff:127.0.0.1"}},
{"key":"net.peer.port","value":{"intValue":52734}},
{"key":"http.status_code","value":{"intValue":200}},
{"key":"http.status_text","value":{"stringValue":"OK"}},
{"key":"app.load","value":{"doubleValue":0.75}},
{"key":"app.cached","value":{"boolValue":false}}],
"droppedAttributesCount":0,
"events":[{"attributes":[{"key":"exception.type","value":{"stringValue":"Error"}},{"key":"exception.message","value":{"stringValue":"boom"}}],"name":"exception","timeUnixNano":"1700000000150000000","droppedAttributesCount":0}],
"droppedEventsCount":0,"status":{"code":0},
"links":[{"attributes":[],"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","droppedAttributesCount":0}],
"droppedLinksCount":0},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"1a2b3c4d5e6f7081","parentSpanId":"eee19b7ec3c1b174",
"traceState":"vendor=abc","name":"SELECT users","kind":3,"startTimeUnixNano":"1700000000130000000",
"endTimeUnixNano":"1700000000160000000","attributes":[],"droppedAttributesCount":0,"events":[],
"droppedEventsCount":0,"status":{"code":2,"message":"connection reset"},"links":[],"droppedLinksCount":0}]}]}]})";

TEST(OtlpJsonSenders, OpenTelemetryJsSdkHttpExporter) {
  auto request = decode_ok(kJsSdkExport);
  ASSERT_EQ(request.resource_spans_size(), 1);
  const auto& rs = request.resource_spans(0);
  ASSERT_EQ(rs.resource().attributes_size(), 8);
  EXPECT_EQ(rs.resource().attributes(0).key(), "service.name");
  EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "frontend");
  EXPECT_EQ(rs.resource().attributes(4).value().int_value(), 48213);
  EXPECT_EQ(rs.resource().attributes(6).value().array_value().values(1).string_value(), "/app/server.js");
  ASSERT_EQ(rs.scope_spans_size(), 1);
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "@opentelemetry/instrumentation-http");
  EXPECT_EQ(rs.scope_spans(0).scope().version(), "0.45.1");
  ASSERT_EQ(rs.scope_spans(0).spans_size(), 2);

  const auto& server = rs.scope_spans(0).spans(0);
  EXPECT_EQ(server.trace_id(), kTraceId);
  EXPECT_EQ(server.span_id(), kSpanId);
  EXPECT_TRUE(server.parent_span_id().empty());
  EXPECT_EQ(server.name(), "GET");
  EXPECT_EQ(server.kind(), Span::SPAN_KIND_SERVER);
  EXPECT_EQ(server.start_time_unix_nano(), 1700000000123456789ull);
  EXPECT_EQ(server.end_time_unix_nano(), 1700000000170456789ull);
  ASSERT_EQ(server.attributes_size(), 17);
  EXPECT_EQ(server.attributes(13).key(), "http.status_code");
  EXPECT_EQ(server.attributes(13).value().int_value(), 200);
  EXPECT_EQ(server.attributes(15).value().double_value(), 0.75);
  EXPECT_TRUE(server.attributes(16).value().has_bool_value());
  ASSERT_EQ(server.events_size(), 1);
  EXPECT_EQ(server.events(0).name(), "exception");
  EXPECT_EQ(server.events(0).time_unix_nano(), 1700000000150000000ull);
  EXPECT_EQ(server.events(0).attributes(1).value().string_value(), "boom");
  EXPECT_TRUE(server.has_status());
  EXPECT_EQ(server.status().code(), otlp::Status::STATUS_CODE_UNSET);
  ASSERT_EQ(server.links_size(), 1);
  EXPECT_EQ(server.links(0).span_id(), bytes({0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}));

  const auto& client = rs.scope_spans(0).spans(1);
  EXPECT_EQ(client.parent_span_id(), kSpanId);
  EXPECT_EQ(client.trace_state(), "vendor=abc");
  EXPECT_EQ(client.kind(), Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(client.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(client.status().message(), "connection reset");

  // Re-encoding and decoding again gives the same message.
  EXPECT_TRUE(MessageDifferencer::Equals(decode_ok(encode_otlp_json(request)), request));
}

// ---------------------------------------------------------------------------------------------------------
// Errors.

TEST(OtlpJsonErrors, MessageNamesTheField) {
  EXPECT_EQ(
      decode_error(with_span(R"({"traceId":"5b8efff798038103d269b633813fc60"})")),
      "invalid field resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex characters, got 31");
  EXPECT_EQ(
      decode_error(
          R"({"resourceSpans":[{},{"scopeSpans":[{"spans":[{},{},{"links":[{},{"span_id":"x"}]}]}]}]})"),
      "invalid field resourceSpans[1].scopeSpans[0].spans[2].links[1].span_id: expected 16 hex characters, "
      "got 1");
  EXPECT_EQ(decode_error(with_value(R"({"kvlistValue":{"values":[{"key":"k","value":{"intValue":true}}]}})")),
            "invalid field resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.kvlistValue.values[0]"
            ".value.intValue: expected an integer (number or decimal string), got a boolean");
}

TEST(OtlpJsonErrors, EachErrorCase) {
  struct Case {
    std::string json;
    std::vector<std::string> expected;  // substrings of the message
  };
  const std::string t32 = "5b8efff798038103d269b633813fc60c";
  const std::vector<Case> cases = {
      // ids
      {with_span(R"({"traceId":"5b8efff798038103d269b633813fc6zz"})"), {"traceId", "invalid hex"}},
      {with_span(R"({"traceId":"5b8efff798038103d269b633813fc60c00"})"), {"traceId", "32 hex", "got 34"}},
      {with_span(R"({"spanId":"eee19b7ec3c1b17"})"), {"spanId", "16 hex"}},
      {with_span(R"({"spanId":"eee19b7ec3c1b17g"})"), {"spanId", "invalid hex"}},
      {with_span(R"({"parentSpanId":"-ee19b7ec3c1b174"})"), {"parentSpanId", "invalid hex"}},
      {with_span(R"({"parentSpanId":"eee19b7ec3c1b174eee19b7ec3c1b174"})"), {"parentSpanId", "16 hex"}},
      {with_span(R"({"links":[{"traceId":"abc"}]})"), {"links[0].traceId", "32 hex"}},
      {with_span(R"({"links":[{"spanId":"eee19b7ec3c1b17 "}]})"), {"links[0].spanId", "invalid hex"}},
      {with_span(R"({"traceId":123})"), {"traceId", "expected a hex string, got a number"}},
      {with_span(R"({"traceId":"XB8EFFF798038103D269B633813FC60C"})"), {"traceId", "invalid hex"}},
      // invalid JSON
      {"", {"invalid JSON"}},
      {"{", {"invalid JSON"}},
      {R"({"resourceSpans":[)", {"invalid JSON"}},
      {R"({"resourceSpans":[]}x)", {"invalid JSON"}},
      {R"({'resourceSpans':[]})", {"invalid JSON"}},
      {"{\"resourceSpans\":[{\"schemaUrl\":\"\xff\"}]}", {"invalid JSON"}},  // not UTF-8
      {with_span(R"({"name":"a\x"})"), {"invalid JSON"}},
      {with_span(R"({"name":"a\ud800z"})"), {"invalid JSON"}},  // lone UTF-16 surrogate
      // top level
      {"[]", {"top-level", "an array"}},
      {"\"str\"", {"top-level", "a string"}},
      {"null", {"top-level", "null"}},
      {"42", {"top-level", "a number"}},
      // wrong types
      {R"({"resourceSpans":"x"})", {"resourceSpans", "expected an array, got a string"}},
      {R"({"resourceSpans":{}})", {"resourceSpans", "expected an array, got an object"}},
      {R"({"resourceSpans":[1]})", {"resourceSpans[0]", "expected an object, got a number"}},
      {R"({"resourceSpans":[{"resource":"x"}]})", {"resource", "expected an object"}},
      {R"({"resourceSpans":[{"resource":{"attributes":{}}}]})", {"resource.attributes", "expected an array"}},
      {R"({"resourceSpans":[{"schemaUrl":1}]})", {"schemaUrl", "expected a string"}},
      {R"({"resourceSpans":[{"scopeSpans":[{"scope":[]}]}]})", {"scope", "expected an object"}},
      {R"({"resourceSpans":[{"scopeSpans":[{"scope":{"version":false}}]}]})", {"scope.version", "a string"}},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":[[]]}]}]})", {"spans[0]", "expected an object"}},
      {with_span(R"({"name":5})"), {"name", "expected a string, got a number"}},
      {with_span(R"({"kind":"SPAN_KIND_BOGUS"})"), {"kind", "unknown enum value \"SPAN_KIND_BOGUS\""}},
      {with_span(R"({"kind":true})"), {"kind", "expected an enum"}},
      {with_span(R"({"kind":1.5})"), {"kind", "fractional"}},
      {with_span(R"({"kind":4294967296})"), {"kind", "out of range"}},
      {with_span(R"({"status":{"code":"ERROR"}})"), {"status.code", "unknown enum value"}},
      {with_span(R"({"status":"error"})"), {"status", "expected an object"}},
      {with_span(R"({"status":{"message":{}}})"), {"status.message", "expected a string"}},
      {with_span(R"({"startTimeUnixNano":"-1"})"), {"startTimeUnixNano", "expected an integer"}},
      {with_span(R"({"startTimeUnixNano":-1})"), {"startTimeUnixNano", "out of range"}},
      {with_span(R"({"startTimeUnixNano":"12abc"})"), {"startTimeUnixNano", "expected an integer"}},
      {with_span(R"({"startTimeUnixNano":""})"), {"startTimeUnixNano", "expected an integer"}},
      {with_span(R"({"endTimeUnixNano":1.5})"), {"endTimeUnixNano", "fractional"}},
      {with_span(R"({"endTimeUnixNano":"18446744073709551616"})"), {"endTimeUnixNano", "out of range"}},
      {with_span(R"({"endTimeUnixNano":1e20})"), {"endTimeUnixNano", "out of range"}},
      {with_span(R"({"endTimeUnixNano":true})"), {"endTimeUnixNano", "got a boolean"}},
      {with_span(R"({"endTimeUnixNano":{"low":1}})"), {"endTimeUnixNano", "got an object"}},
      {with_span(R"({"events":[{"timeUnixNano":[]}]})"), {"events[0].timeUnixNano", "got an array"}},
      {with_span(R"({"flags":"x"})"), {"flags", "expected an integer"}},
      {with_span(R"({"flags":4294967296})"), {"flags", "out of range"}},
      {with_span(R"({"droppedAttributesCount":-1})"), {"droppedAttributesCount", "out of range"}},
      {with_span(R"({"droppedEventsCount":"4294967296"})"), {"droppedEventsCount", "out of range"}},
      {with_span(R"({"droppedLinksCount":null,"droppedLinksCount":"+-1"})"), {"droppedLinksCount"}},
      {with_span(R"({"events":{}})"), {"events", "expected an array"}},
      {with_span(R"({"links":[1]})"), {"links[0]", "expected an object"}},
      {with_span(R"({"attributes":[{"key":1}]})"), {"attributes[0].key", "expected a string"}},
      {with_span(R"({"attributes":["a"]})"), {"attributes[0]", "expected an object"}},
      {with_value(R"("str")"), {"attributes[0].value", "expected an object, got a string"}},
      {with_value(R"({"intValue":"9223372036854775808"})"), {"intValue", "out of range"}},
      {with_value(R"({"intValue":9223372036854775808})"), {"intValue", "out of range"}},
      {with_value(R"({"intValue":"12x"})"), {"intValue", "expected an integer"}},
      {with_value(R"({"intValue":1.25})"), {"intValue", "fractional"}},
      {with_value(R"({"boolValue":"true"})"), {"boolValue", "expected a boolean"}},
      {with_value(R"({"doubleValue":"abc"})"), {"doubleValue", "expected a number"}},
      {with_value(R"({"doubleValue":"nan"})"), {"doubleValue", "expected a number"}},
      {with_value(R"({"doubleValue":[]})"), {"doubleValue", "expected a number"}},
      {with_value(R"({"stringValue":1})"), {"stringValue", "expected a string"}},
      {with_value(R"({"bytesValue":"!!!!"})"), {"bytesValue", "invalid base64"}},
      {with_value(R"({"bytesValue":"AAAAA"})"), {"bytesValue", "invalid base64"}},
      {with_value(R"({"bytesValue":7})"), {"bytesValue", "base64"}},
      {with_value(R"({"arrayValue":[]})"), {"arrayValue", "expected an object"}},
      {with_value(R"({"arrayValue":{"values":{}}})"), {"arrayValue.values", "expected an array"}},
      {with_value(R"({"arrayValue":{"values":[1]}})"), {"arrayValue.values[0]", "expected an object"}},
      {with_value(R"({"kvlistValue":{"values":[{"key":"k","value":"v"}]}})"),
       {"kvlistValue.values[0].value", "expected an object"}},
  };
  for (const auto& c : cases) {
    std::string message = decode_error(c.json);
    for (const auto& part : c.expected) {
      EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nJSON: " << c.json;
    }
  }
}

// `levels` AnyValues nested in each other, alternating arrayValue and kvlistValue.
std::string nested_value(int levels) {
  std::string open, close;
  for (int i = levels - 1; i >= 1; --i)
    open += i % 2 ? R"({"arrayValue":{"values":[)" : R"({"kvlistValue":{"values":[{"key":"k","value":)";
  for (int i = 1; i < levels; ++i) close += i % 2 ? "]}}" : "}]}}";
  return open + R"({"intValue":1})" + close;
}

TEST(OtlpJsonErrors, NestingDepthIsLimited) {
  decode_ok(with_value(nested_value(64)));
  std::string message = decode_error(with_value(nested_value(65)));
  EXPECT_NE(message.find("nesting deeper than 64"), std::string::npos) << message;
  // Very deep JSON (beyond any limit) fails cleanly instead of exhausting the stack.
  std::string deep = with_value(nested_value(64 * 1024));
  decode_error(deep);
  decode_error(std::string(1'000'000, '[') + std::string(1'000'000, ']'));
  decode_error(R"({"x":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}");
}

TEST(OtlpJsonErrors, NeverCrashesOnMutatedInput) {
  std::mt19937 rng(4242);
  const char interesting[] = "{}[]\":,0123456789.eE-+ntfrua\\ \xff\x80";
  for (int i = 0; i < 3000; ++i) {
    std::string json = i % 2 ? encode_otlp_json(rich_request()) : std::string(kJsSdkExport);
    auto pos = [&](std::mt19937& r) { return static_cast<std::size_t>(r() % json.size()); };
    int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 4) {
        case 0:
          json[pos(rng)] = interesting[rng() % (sizeof interesting - 1)];
          break;
        case 1:
          json.erase(pos(rng), 1 + rng() % 8);
          break;
        case 2:
          json.insert(pos(rng), 1, interesting[rng() % (sizeof interesting - 1)]);
          break;
        case 3:
          json.resize(pos(rng));
          break;
      }
      if (json.empty()) break;
    }
    otlp::ExportRequest request;
    JsonDecodeError error;
    if (decode_otlp_json(json, request, error)) {
      EXPECT_TRUE(error.message.empty());
      EXPECT_TRUE(is_valid_json(encode_otlp_json(request)));
    } else {
      EXPECT_FALSE(error.message.empty());
    }
  }
}

}  // namespace
}  // namespace otelbpf
