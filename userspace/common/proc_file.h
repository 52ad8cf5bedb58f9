#pragma once
// Reading /proc/<pid>/... of processes that may exit at any moment: a read of a file whose process is
// gone fails with ESRCH, and libstdc++'s filebuf turns that into an exception that istreambuf_iterator
// lets escape (a thread of the agent then terminated on an exited curl). This returns nullopt instead.
#include <optional>
#include <string>

namespace otelbpf {

// The whole file (at most `limit` bytes), or nullopt when it cannot be opened or read.
std::optional<std::string> read_proc_file(const std::string& path, std::size_t limit = 1 << 20);

// This host's name (gethostname; in a pod, the pod's name unless hostNetwork).
std::string host_name();

}  // namespace otelbpf
