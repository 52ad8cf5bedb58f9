#pragma once
// TLS for the agent's own connections: the OTLP exporters (client side) and the OTLP receivers (server
// side). One place builds the OpenSSL contexts, so every connection has the same floor (TLS 1.2+) and the
// same checks (peer verification on unless explicitly skipped, the server's name checked against its
// certificate), and a bad file is reported by its config key and path at start, not as a handshake
// failure later.
#include <boost/asio/ssl/context.hpp>
#include <string>

#include "tls/tls_options.h"

namespace otelbpf {

// The file's contents; throws std::runtime_error naming `what` and the path when it cannot be read.
std::string read_pem_file(const std::string& path, const std::string& what);

// Throw std::runtime_error naming `what` (a config key) and the file when a file is missing or invalid.
boost::asio::ssl::context make_tls_client_context(const TlsClientOptions& options, const std::string& what);
boost::asio::ssl::context make_tls_server_context(const TlsServerOptions& options, const std::string& what);

}  // namespace otelbpf
