#pragma once

namespace otelbpf {

// Makes sure tracefs, which the probes need (libbpf resolves tracepoint ids through it), is mounted: at
// /sys/kernel/tracing, else under debugfs, whose tracing/ directory is tracefs. Mounts it when missing
// (needs CAP_SYS_ADMIN) and logs the mount. Returns true when tracefs is usable afterwards.
bool ensure_kernel_filesystems();

}  // namespace otelbpf
