#pragma once
// Heap bytes of standard containers, for the memory budget's estimates (common/memory_budget.h).
#include <cstddef>
#include <string>

namespace otelbpf {

// The heap buffer a string holds (none while it fits the small-string buffer).
inline std::size_t string_heap_bytes(const std::string& s) {
  return s.capacity() > std::string().capacity() ? s.capacity() + 1 : 0;
}

}  // namespace otelbpf
