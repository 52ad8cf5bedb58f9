#pragma once
// What the agent's TLS connections are configured with (tls/tls.h builds the contexts); plain structs, so
// that the exporters' and receivers' headers need no OpenSSL.
#include <string>

namespace otelbpf {

struct TlsClientOptions {
  bool enabled = false;
  std::string ca_file;    // PEM bundle the server's certificate must chain to; "" = the system's CAs
  std::string cert_file;  // client certificate chain (PEM) for mutual TLS; "" = none
  std::string key_file;   // its private key (PEM); required with cert_file
  bool insecure_skip_verify = false;  // accept any server certificate (testing only; logged at start)
};

struct TlsServerOptions {
  std::string cert_file;       // server certificate chain (PEM); "" = plaintext listener
  std::string key_file;        // its private key (PEM)
  std::string client_ca_file;  // "" = no client certificates; else every client must present one it signs
  bool enabled() const { return !cert_file.empty(); }
};

}  // namespace otelbpf
