#include "tls/tls.h"

#include <fmt/format.h>

#include <boost/system/system_error.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace otelbpf {
namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 is the oldest version still considered safe (RFC 8996 deprecates 1.0 and 1.1).
constexpr auto kProtocolFloor = ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1;

template <typename Load>
void load(const std::string& what, const char* role, const std::string& path, Load&& load_file) {
  try {
    load_file();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(fmt::format("{}: cannot use {} {}: {}", what, role, path, e.code().message()));
  }
}

void load_key_pair(ssl::context& context, const std::string& what, const std::string& cert_file,
                   const std::string& key_file) {
  if (key_file.empty()) throw std::runtime_error(what + ": a certificate needs its key_file");
  load(what, "certificate", cert_file, [&] { context.use_certificate_chain_file(cert_file); });
  load(what, "key", key_file, [&] { context.use_private_key_file(key_file, ssl::context::pem); });
}

}  // namespace

std::string read_pem_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read {}", what, path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos)
    throw std::runtime_error(fmt::format("{}: {} is not a PEM file", what, path));
  return text.str();
}

ssl::context make_tls_client_context(const TlsClientOptions& options, const std::string& what) {
  ssl::context context(ssl::context::tls_client);
  context.set_options(kProtocolFloor);
  if (options.insecure_skip_verify) {
    context.set_verify_mode(ssl::verify_none);
  } else {
    context.set_verify_mode(ssl::verify_peer);
    if (!options.ca_file.empty())
      load(what, "CA file", options.ca_file, [&] { context.load_verify_file(options.ca_file); });
    else
      context.set_default_verify_paths();
  }
  if (!options.cert_file.empty()) load_key_pair(context, what, options.cert_file, options.key_file);
  else if (!options.key_file.empty()) throw std::runtime_error(what + ": key_file without cert_file");
  return context;
}

ssl::context make_tls_server_context(const TlsServerOptions& options, const std::string& what) {
  ssl::context context(ssl::context::tls_server);
  context.set_options(kProtocolFloor | ssl::context::single_dh_use);
  load_key_pair(context, what, options.cert_file, options.key_file);
  if (!options.client_ca_file.empty()) {
    load(what, "client CA file", options.client_ca_file,
         [&] { context.load_verify_file(options.client_ca_file); });
    context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return context;
}

}  // namespace otelbpf
