#pragma once
// The HTTP(S) side of the Kubernetes client: GET requests to the API server, one at a time, plain or TLS
// (verified against the service account's CA), with the bearer token re-read as it rotates. Blocking in
// shape, so that the list/watch logic in kube_client.cc reads as a straight story; stop() interrupts a
// request in flight from another thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace otelbpf::k8s {

struct KubeClientOptions;

enum class ApiOutcome {
  kOk,
  kFailed,        // the request failed (reported through the error callback)
  kStopped,       // stop() interrupted it
  kGone,          // 410 Gone: the resourceVersion (or continue token) is too old
  kDisconnected,  // a watch stream broke after it had started
};

class ApiTransport {
 public:
  // Every failure is reported once with a short reason (a metric label) and a message for the log.
  using ErrorSink = std::function<void(std::string_view reason, std::string message)>;

  // Throws std::invalid_argument for an API URL it cannot use or a CA file it cannot load.
  ApiTransport(const KubeClientOptions& options, ErrorSink on_error);
  ~ApiTransport();
  ApiTransport(const ApiTransport&) = delete;
  ApiTransport& operator=(const ApiTransport&) = delete;

  // From any thread: interrupts the request in flight and every later one, and wakes sleep_for.
  void stop();
  bool stopping() const;
  // Sleeps unless stopped; false when stopping.
  bool sleep_for(std::chrono::milliseconds delay);

  // GET `target` (a path and query under the API URL's base path) and read the whole answer, up to
  // `body_limit` bytes of body.
  ApiOutcome get(const std::string& target, std::uint64_t body_limit, unsigned& status, std::string& body);

  // GET `target` and read the answer's header; its body then arrives through read_stream (a watch).
  ApiOutcome open_stream(const std::string& target, unsigned& status);
  // Appends the body bytes that arrive next (waiting at most `idle` for them) to `out`. kDisconnected
  // when the connection failed; the bytes that came before are still appended.
  ApiOutcome read_stream(std::string& out, std::chrono::milliseconds idle);
  bool stream_done() const;
  // Why the last read_stream returned kDisconnected.
  const std::string& stream_error() const;

  // The API answered 401: read the token again before the next request.
  void token_refused();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace otelbpf::k8s
