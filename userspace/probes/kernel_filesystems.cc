#include "probes/kernel_filesystems.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstring>

namespace otelbpf {
namespace {

// From <linux/magic.h>, spelled out to avoid depending on kernel headers.
constexpr long kTracefsMagic = 0x74726163;
constexpr long kDebugfsMagic = 0x64626720;

bool is_mounted_as(const char* path, long magic) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

bool mount_fs(const char* type, const char* path, long magic) {
  if (is_mounted_as(path, magic)) return true;
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    spdlog::warn("cannot create {} for {}: {}", path, type, std::strerror(errno));
    return false;
  }
  if (mount(type, path, type, 0, nullptr) != 0) {
    spdlog::warn("mount -t {} {} failed: {}", type, path, std::strerror(errno));
    return false;
  }
  spdlog::info("mounted {} at {}", type, path);
  return true;
}

bool ensure_tracefs() {
  if (is_mounted_as("/sys/kernel/tracing", kTracefsMagic)) return true;
  if (is_mounted_as("/sys/kernel/debug/tracing", kTracefsMagic)) return true;
  if (mount_fs("tracefs", "/sys/kernel/tracing", kTracefsMagic)) return true;
  // Kernels with tracefs but a read-only /sys/kernel/tracing mountpoint still automount it under
  // debugfs, which libbpf checks first.
  if (mount_fs("debugfs", "/sys/kernel/debug", kDebugfsMagic) &&
      is_mounted_as("/sys/kernel/debug/tracing", kTracefsMagic)) {
    return true;
  }
  spdlog::error("tracefs is not available: tracepoint probes cannot attach");
  return false;
}

}  // namespace

bool ensure_kernel_filesystems() {
  // Only tracefs: the agent pins nothing, so it has no use for bpffs. Mounting needs CAP_SYS_ADMIN, which
  // a DaemonSet does not grant: there the host's tracefs is mounted into the container instead.
  return ensure_tracefs();
}

}  // namespace otelbpf
