// The sys span builder is where captured bytes become exported text: every string valid UTF-8, URL query
// values and database error literals redacted, for every protocol (issue 13 items 5 and 6).
#include "spans/sys_span_builder.h"

#include <gtest/gtest.h>

#include "protocols/common/redact.h"

namespace otelbpf {
namespace {

const otlp::AnyValue* attr(const otlp::Span& s, std::string_view key) {
  for (const auto& kv : s.attributes())
    if (kv.key() == key) return &kv.value();
  return nullptr;
}

TEST(SysSpanBuilder, CapturedTextLeavesAsValidUtf8WithSecretsRedacted) {
  l7::L7Record record;
  record.protocol = "http1";
  record.role = l7::Role::kServer;
  record.span_name = "GET /caf\xe9";  // Latin-1 from a legacy client
  record.attributes.emplace_back("url.path", std::string("/caf\xe9"));
  record.attributes.emplace_back("url.query", std::string("access_token=s3cr3t&page=2"));
  record.attributes.emplace_back("user_agent.original", std::string("bot\xff"));
  SysSpanOrigin origin;
  origin.pid = 42;
  origin.executable = "srv";
  SpanIdGenerator ids;
  const auto span = build_sys_span(record, origin, ids);
  EXPECT_TRUE(l7::is_valid_utf8(span.name()));
  EXPECT_EQ(attr(span, "url.path")->string_value(), "/caf\xef\xbf\xbd");
  EXPECT_EQ(attr(span, "url.query")->string_value(), "access_token=REDACTED&page=REDACTED");
  EXPECT_TRUE(l7::is_valid_utf8(attr(span, "user_agent.original")->string_value()));
  // A strict protobuf receiver parses the serialized span (string fields are checked for UTF-8).
  otlp::Span parsed;
  EXPECT_TRUE(parsed.ParseFromString(span.SerializeAsString()));

  l7::L7Record error;
  error.protocol = "mysql";
  error.role = l7::Role::kClient;
  error.error = true;
  error.status_message = "Duplicate entry 'ann@example.org' for key 'email'";
  const auto failed = build_sys_span(error, origin, ids);
  EXPECT_EQ(failed.status().message(), "Duplicate entry ? for key ?");
}

}  // namespace
}  // namespace otelbpf
