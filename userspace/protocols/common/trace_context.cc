#include "protocols/common/trace_context.h"

#include <algorithm>

#include "common/hex.h"
#include "protocols/common/text.h"

namespace otelbpf::l7 {
namespace {

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

// Exactly 2*n hex digits into n bytes. W3C allows only lowercase; the other formats are case-blind.
bool parse_hex_exact(std::string_view hex, uint8_t* out, size_t n, bool lowercase_only) {
  if (hex.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    const char hi_c = hex[2 * i];
    const char lo_c = hex[2 * i + 1];
    if (lowercase_only && ((hi_c >= 'A' && hi_c <= 'F') || (lo_c >= 'A' && lo_c <= 'F'))) return false;
    const int hi = hex_value(hi_c);
    const int lo = hex_value(lo_c);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

// 1..2*n hex digits, right-aligned into n bytes: Jaeger drops leading zeros, B3 and Jaeger allow
// 64-bit trace ids in a 128-bit field.
bool parse_hex_padded(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.empty() || hex.size() > 2 * n) return false;
  std::fill(out, out + n, 0);
  size_t nibble = 0;  // counted from the least significant end
  for (auto it = hex.rbegin(); it != hex.rend(); ++it, ++nibble) {
    const int v = hex_value(*it);
    if (v < 0) return false;
    uint8_t& byte = out[n - 1 - nibble / 2];
    byte = static_cast<uint8_t>(byte | (nibble % 2 == 0 ? v : v << 4));
  }
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

const std::string* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

bool valid_ids(const TraceContext& c) { return !all_zero(c.trace_id) && !all_zero(c.span_id); }

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;  // '-' and '_': the URL-safe alphabet some agents use
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

uint64_t fnv1a64(std::string_view s, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void store_be64(uint64_t v, uint8_t* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvBasis2 = kFnvBasis ^ 0x9e3779b97f4a7c15ULL;

std::optional<TraceContext> parse_b3_multi(const HeaderList& headers) {
  const std::string* trace = find_header(headers, "x-b3-traceid");
  const std::string* span = find_header(headers, "x-b3-spanid");
  if (trace == nullptr || span == nullptr) return std::nullopt;
  const std::string_view t = trim_ows(*trace);
  if (t.size() != 16 && t.size() != 32) return std::nullopt;
  TraceContext c;
  c.source = TraceContext::Source::kB3Multi;
  if (!parse_hex_padded(t, c.trace_id.data(), 16)) return std::nullopt;
  if (!parse_hex_exact(trim_ows(*span), c.span_id.data(), 8, false)) return std::nullopt;
  if (!valid_ids(c)) return std::nullopt;
  if (const std::string* parent = find_header(headers, "x-b3-parentspanid")) {
    std::array<uint8_t, 8> p{};
    // A bad parent id does not void the trace and span ids, which are what linking uses.
    if (parse_hex_exact(trim_ows(*parent), p.data(), 8, false) && !all_zero(p)) c.parent_span_id = p;
  }
  if (const std::string* sampled = find_header(headers, "x-b3-sampled")) {
    const std::string_view s = trim_ows(*sampled);
    if (s == "1" || iequals(s, "true")) c.flags = 1;
  }
  if (const std::string* flags = find_header(headers, "x-b3-flags")) {
    if (trim_ows(*flags) == "1") c.flags = 1;  // debug implies sampled
  }
  c.ids_valid = true;
  return c;
}

}  // namespace

const char* to_string(TraceContext::Source s) {
  switch (s) {
    case TraceContext::Source::kW3C:
      return "w3c";
    case TraceContext::Source::kB3:
      return "b3";
    case TraceContext::Source::kB3Multi:
      return "b3multi";
    case TraceContext::Source::kJaeger:
      return "jaeger";
    case TraceContext::Source::kSkyWalking:
      return "sw8";
    case TraceContext::Source::kRequestIdOnly:
      return "x-request-id";
  }
  return "?";
}

std::string to_hex(const uint8_t* data, size_t n) { return otelbpf::to_hex(data, n); }

std::optional<TraceContext> parse_traceparent(std::string_view value) {
  const std::string_view v = trim_ows(value);
  // version "-" trace-id(32) "-" parent-id(16) "-" flags(2): 55 characters.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  uint8_t version = 0;
  if (!parse_hex_exact(v.substr(0, 2), &version, 1, true) || version == 0xff) return std::nullopt;
  // Version 00 has exactly these fields; later versions may append "-..." which we ignore.
  if (version == 0 && v.size() != 55) return std::nullopt;
  if (version != 0 && v.size() > 55 && v[55] != '-') return std::nullopt;
  TraceContext c;
  c.source = TraceContext::Source::kW3C;
  if (!parse_hex_exact(v.substr(3, 32), c.trace_id.data(), 16, true)) return std::nullopt;
  if (!parse_hex_exact(v.substr(36, 16), c.span_id.data(), 8, true)) return std::nullopt;
  if (!parse_hex_exact(v.substr(53, 2), &c.flags, 1, true)) return std::nullopt;
  if (!valid_ids(c)) return std::nullopt;
  c.ids_valid = true;
  return c;
}

std::optional<TraceContext> parse_b3_single(std::string_view value) {
  // {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]; a lone sampling state carries no ids.
  const auto parts = split(trim_ows(value), '-');
  if (parts.size() < 2 || parts.size() > 4) return std::nullopt;
  if (parts[0].size() != 16 && parts[0].size() != 32) return std::nullopt;
  TraceContext c;
  c.source = TraceContext::Source::kB3;
  if (!parse_hex_padded(parts[0], c.trace_id.data(), 16)) return std::nullopt;
  if (!parse_hex_exact(parts[1], c.span_id.data(), 8, false)) return std::nullopt;
  if (!valid_ids(c)) return std::nullopt;
  if (parts.size() >= 3) {
    const std::string_view s = parts[2];
    if (s == "1" || s == "d") {
      c.flags = 1;
    } else if (s != "0") {
      return std::nullopt;
    }
  }
  if (parts.size() == 4) {
    std::array<uint8_t, 8> p{};
    if (!parse_hex_exact(parts[3], p.data(), 8, false)) return std::nullopt;
    if (!all_zero(p)) c.parent_span_id = p;
  }
  c.ids_valid = true;
  return c;
}

std::optional<TraceContext> parse_uber_trace_id(std::string_view value) {
  // {trace-id}:{span-id}:{parent-span-id}:{flags}; some clients URL-encode the colons.
  std::string decoded;
  const std::string_view raw = trim_ows(value);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size() && raw[i + 1] == '3' && ascii_lower(raw[i + 2]) == 'a') {
      decoded.push_back(':');
      i += 2;
    } else {
      decoded.push_back(raw[i]);
    }
  }
  const auto parts = split(decoded, ':');
  if (parts.size() != 4) return std::nullopt;
  TraceContext c;
  c.source = TraceContext::Source::kJaeger;
  if (!parse_hex_padded(parts[0], c.trace_id.data(), 16)) return std::nullopt;
  if (!parse_hex_padded(parts[1], c.span_id.data(), 8)) return std::nullopt;
  if (!valid_ids(c)) return std::nullopt;
  std::array<uint8_t, 8> p{};
  if (!parse_hex_padded(parts[2], p.data(), 8)) return std::nullopt;
  if (!all_zero(p)) c.parent_span_id = p;
  uint8_t flags = 0;
  if (!parse_hex_padded(parts[3], &flags, 1)) return std::nullopt;
  c.flags = (flags & 0x03) != 0 ? 1 : 0;  // bit 0 sampled, bit 1 debug (which implies sampled)
  c.ids_valid = true;
  return c;
}

std::optional<TraceContext> parse_sw8(std::string_view value) {
  // sample-traceId-segmentId-spanIndex-service-instance-endpoint-peer; all but sample and spanIndex are
  // base64. SkyWalking ids are free-form strings, so they are hashed into OTel-sized ids: the same header
  // gives the same ids on every node, which is all linking needs. A 32-hex-digit trace id is kept as is.
  const auto parts = split(trim_ows(value), '-');
  if (parts.size() != 8) return std::nullopt;
  if (parts[0] != "0" && parts[0] != "1") return std::nullopt;
  const auto trace = base64_decode(parts[1]);
  const auto segment = base64_decode(parts[2]);
  const auto span_index = parse_decimal(parts[3], INT32_MAX);
  if (!trace || !segment || !span_index || trace->empty() || segment->empty()) return std::nullopt;
  for (size_t i = 4; i < parts.size(); ++i) {
    if (!base64_decode(parts[i])) return std::nullopt;
  }
  TraceContext c;
  c.source = TraceContext::Source::kSkyWalking;
  c.flags = parts[0] == "1" ? 1 : 0;
  if (!parse_hex_exact(*trace, c.trace_id.data(), 16, false)) {
    store_be64(fnv1a64(*trace, kFnvBasis), c.trace_id.data());
    store_be64(fnv1a64(*trace, kFnvBasis2), c.trace_id.data() + 8);
  }
  const std::string span_key = *segment + "." + std::to_string(*span_index);
  store_be64(fnv1a64(span_key, kFnvBasis), c.span_id.data());
  if (all_zero(c.trace_id)) return std::nullopt;
  if (all_zero(c.span_id)) c.span_id[7] = 1;  // a hash of 0 is as good as any other value, but not valid
  c.ids_valid = true;
  return c;
}

bool is_trace_context_header(std::string_view name) {
  static constexpr std::string_view kRead[] = {"traceparent",  "tracestate",  "b3",
                                               "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                                               "x-b3-sampled", "x-b3-flags",  "uber-trace-id",
                                               "sw8",          "x-request-id"};
  for (auto read : kRead)
    if (iequals(name, read)) return true;
  return false;
}

std::optional<TraceContext> extract_trace_context(const HeaderList& headers) {
  // Most requests carry none of these headers: one pass says so, instead of a search per kind and an
  // empty context moved out of each parser (~3 % of the tracer's thread).
  if (std::none_of(headers.begin(), headers.end(),
                   [](const auto& header) { return is_trace_context_header(header.first); }))
    return std::nullopt;
  std::optional<TraceContext> c;
  if (const std::string* tp = find_header(headers, "traceparent")) {
    c = parse_traceparent(*tp);
    if (c) {
      for (const auto& [k, v] : headers) {
        if (!iequals(k, "tracestate")) continue;
        const std::string_view ts = trim_ows(v);
        if (ts.empty()) continue;
        if (!c->tracestate.empty()) c->tracestate.push_back(',');
        c->tracestate.append(ts);
      }
    }
  }
  if (!c) {
    if (const std::string* b3 = find_header(headers, "b3")) c = parse_b3_single(*b3);
  }
  if (!c) c = parse_b3_multi(headers);
  if (!c) {
    if (const std::string* uber = find_header(headers, "uber-trace-id")) c = parse_uber_trace_id(*uber);
  }
  if (!c) {
    if (const std::string* sw8 = find_header(headers, "sw8")) c = parse_sw8(*sw8);
  }
  if (const std::string* rid = find_header(headers, "x-request-id")) {
    const std::string_view r = trim_ows(*rid);
    if (!r.empty()) {
      if (!c) {
        c.emplace();
        c->source = TraceContext::Source::kRequestIdOnly;
      }
      c->request_id.assign(r.substr(0, 256));
    }
  }
  return c;
}

}  // namespace otelbpf::l7
