#pragma once

namespace otelbpf {

// Makes sure the pseudo filesystems the probes need are mounted: tracefs (libbpf resolves tracepoint
// ids through it; falls back to debugfs, whose tracing/ directory is tracefs) and bpffs at /sys/fs/bpf.
// Mounts what is missing and logs each mount. Returns true when tracefs and bpffs are usable afterwards.
bool ensure_kernel_filesystems();

}  // namespace otelbpf
