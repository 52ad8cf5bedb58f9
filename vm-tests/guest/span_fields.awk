# OTLP/JSON export lines (one ExportTraceServiceRequest per line) -> one tab-separated line per span:
#   host traceId spanId parentSpanId kind source side interface tunnel outer_src outer_dst req_seq resp_seq
#   url.path name
# Busybox awk, no JSON parser: every span object starts with {"traceId"; the resource (host.name) that
# a span belongs to is the last one written before it. Missing values print as "-".
function field(s, key,    m) {
  if (match(s, "\"" key "\":\"[^\"]*\"")) {
    m = substr(s, RSTART, RLENGTH)
    sub("^\"" key "\":\"", "", m)
    sub("\"$", "", m)
    return m == "" ? "-" : m
  }
  return "-"
}
function num(s, key,    m) {
  if (match(s, "\"" key "\":[0-9]+")) {
    m = substr(s, RSTART, RLENGTH)
    sub("^\"" key "\":", "", m)
    return m
  }
  return "-"
}
function attr(s, key,    m) {
  if (match(s, "\"key\":\"" key "\",\"value\":\\{\"[a-zA-Z]*Value\":\"?[^\",}]*")) {
    m = substr(s, RSTART, RLENGTH)
    sub("^\"key\":\"" key "\",\"value\":\\{\"[a-zA-Z]*Value\":\"?", "", m)
    return m == "" ? "-" : m
  }
  return "-"
}
{
  n = split($0, piece, /\{"traceId"/)
  host = "-"
  for (i = 1; i <= n; i++) {
    s = piece[i]
    rest = ""
    if (i > 1) {
      # The span is the text up to the next resource (if any); what follows names the next host.
      span = s
      if (match(s, /"resource":\{/)) {
        span = substr(s, 1, RSTART - 1)
        rest = substr(s, RSTART)
      }
      span = "{\"traceId\"" span
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", host, field(span, "traceId"),
        field(span, "spanId"), field(span, "parentSpanId"), num(span, "kind"), attr(span, "otelbpf.span.source"),
        attr(span, "otelbpf.tap.side"), attr(span, "otelbpf.tap.interface"), attr(span, "otelbpf.tunnel.type"),
        attr(span, "otelbpf.tunnel.outer.src_address"), attr(span, "otelbpf.tunnel.outer.dst_address"),
        attr(span, "otelbpf.tcp.req_seq"), attr(span, "otelbpf.tcp.resp_seq"), attr(span, "url.path"), field(span, "name")
    } else {
      rest = s
    }
    if (rest != "" && attr(rest, "host.name") != "-") host = attr(rest, "host.name")
  }
}
