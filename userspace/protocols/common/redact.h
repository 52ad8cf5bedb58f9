#pragma once
// What captured bytes must become before they leave the node as span attributes (docs/attributes.md):
// valid UTF-8 (protobuf string fields must be; a strict receiver, another otelbpf agent included, answers
// 400 and drops the whole batch otherwise) and without the secrets that URLs and database errors carry.
#include <string>
#include <string_view>
#include <vector>

namespace otelbpf::l7 {

bool is_valid_utf8(std::string_view text);
// The text with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view text);

// Process-wide (set once at start-up from config; on by default): the values of query parameters whose
// names are not in `allowed` are replaced, names and structure kept ("token=REDACTED&page=2").
void set_url_query_redaction(bool enabled, std::vector<std::string> allowed);
std::string redact_url_query(std::string_view query);

// A database server's error text quotes the values it refused ("Duplicate entry 'ann@x.org' for key
// 'email'"): quoted runs become `?` when SQL obfuscation is on ("Duplicate entry ? for key ?"). The names
// it quotes go too: an error text cannot tell a table's name from a customer's.
std::string redact_error_message(std::string_view message);

}  // namespace otelbpf::l7
