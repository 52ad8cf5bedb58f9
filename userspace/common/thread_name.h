#pragma once
// Names the calling thread, as `top -H`, `perf` and /proc/<pid>/task/*/comm show it: an agent's threads
// otherwise all read "otelbpf-agent", and which stage is busy (the assembler, the tracer, an exporter) is
// the first question under load. Linux keeps 15 characters.
#include <pthread.h>

#include <string>

namespace otelbpf {

inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace otelbpf
