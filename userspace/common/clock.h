#pragma once
// The kernel stamps events with bpf_ktime_get_ns() (CLOCK_MONOTONIC); spans carry wall-clock time.
#include <cstdint>

namespace otelbpf {

std::uint64_t now_monotonic_ns();
// CLOCK_REALTIME - CLOCK_MONOTONIC now: add it to a kernel timestamp to get Unix nanoseconds. Read again
// on every tick, so that a clock step (NTP) reaches the spans within one.
std::int64_t monotonic_to_wall_offset_ns();

}  // namespace otelbpf
