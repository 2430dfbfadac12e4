#pragma once
// How many CPUs this process may really use: the CPUs it may run on
// (its affinity mask), capped by its cgroup's CPU quota. A pod limited to
// one CPU on a 32-core node sees 32 in std::thread::hardware_concurrency();
// sized on that, its threads would contend for one CPU's worth of time and
// be throttled. The HTTP server and the node size their thread pools from
// this figure.
#include <filesystem>
#include <optional>
#include <string_view>

namespace slimfaas::net {

// CPUs allowed by a cgroup v2 `cpu.max` file ("max 100000" or
// "150000 100000"): quota / period rounded up, or nullopt for no limit or
// unreadable content.
std::optional<unsigned> cpus_from_cpu_max(std::string_view content);

// The same for cgroup v1 (cpu.cfs_quota_us, cpu.cfs_period_us); a negative
// quota is no limit.
std::optional<unsigned> cpus_from_cfs(long long quota_us, long long period_us);

// The CPU quota of the cgroup `/proc/self/cgroup` names (`proc_self_cgroup`
// is that file's content), read under `cgroup_root` (normally
// /sys/fs/cgroup): the tightest limit on the way from the process's cgroup
// to the root, v2 or v1. nullopt when nothing limits it.
std::optional<unsigned> cgroup_cpu_limit(std::string_view proc_self_cgroup,
                                         const std::filesystem::path& cgroup_root);

// min(affinity, cgroup quota), at least 1.
unsigned usable_cpus();

}  // namespace slimfaas::net
