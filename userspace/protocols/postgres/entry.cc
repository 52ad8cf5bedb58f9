#include "protocols/postgres/entry.h"

#include "protocols/postgres/parse.h"
#include "protocols/postgres/stitcher.h"

namespace otelbpf::l7::postgres {

constexpr uint16_t kPostgresPort = 5432;

bool looks_like_message_start(const InferenceInput& input) {
  if (input.udp) return false;
  const bool pg_port = input.local_port == kPostgresPort || input.remote_port == kPostgresPort;
  return looks_like_frontend_start(input.first_bytes, pg_port);
}

std::unique_ptr<ProtocolStitcher> make_stitcher() { return std::make_unique<Stitcher>(); }

}  // namespace otelbpf::l7::postgres
