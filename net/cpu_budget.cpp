#include "net/cpu_budget.hpp"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace slimfaas::net {

namespace {

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<long long> read_number(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  try {
    return std::stoll(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<unsigned> tighter(std::optional<unsigned> a, std::optional<unsigned> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// `dir` and each of its parents up to `root` (inclusive). A cgroup path the
// mount does not show (the process sees its host's path inside a cgroup
// namespace) leaves the root alone, which is then the process's own cgroup.
std::vector<std::filesystem::path> dirs_to_root(const std::filesystem::path& root, std::string_view cgroup_path) {
  std::vector<std::filesystem::path> out;
  auto relative = std::filesystem::path(std::string(cgroup_path)).relative_path();
  std::error_code ec;
  for (auto p = relative; !p.empty(); p = p.parent_path()) {
    if (std::filesystem::is_directory(root / p, ec)) out.push_back(root / p);
    if (p == p.parent_path()) break;
  }
  out.push_back(root);
  return out;
}

}  // namespace

std::optional<unsigned> cpus_from_cpu_max(std::string_view content) {
  std::istringstream in{std::string(content)};
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    return cpus_from_cfs(std::stoll(quota), period);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<unsigned> cpus_from_cfs(long long quota_us, long long period_us) {
  if (quota_us <= 0 || period_us <= 0) return std::nullopt;
  return static_cast<unsigned>(std::max<long long>(1, (quota_us + period_us - 1) / period_us));
}

std::optional<unsigned> cgroup_cpu_limit(std::string_view proc_self_cgroup, const std::filesystem::path& cgroup_root) {
  std::optional<unsigned> limit;
  std::istringstream lines{std::string(proc_self_cgroup)};
  std::string line;
  while (std::getline(lines, line)) {
    // hierarchy-id:controllers:path
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) {  // v2: one unified hierarchy
      for (const auto& dir : dirs_to_root(cgroup_root, path))
        if (auto text = read_file(dir / "cpu.max")) limit = tighter(limit, cpus_from_cpu_max(*text));
      continue;
    }
    std::istringstream names(controllers);
    bool has_cpu = false;
    for (std::string name; std::getline(names, name, ',');) has_cpu = has_cpu || name == "cpu";
    if (!has_cpu) continue;
    for (const auto& mount : {cgroup_root / controllers, cgroup_root / "cpu"}) {
      if (!std::filesystem::is_directory(mount)) continue;
      for (const auto& dir : dirs_to_root(mount, path)) {
        auto quota = read_number(dir / "cpu.cfs_quota_us");
        auto period = read_number(dir / "cpu.cfs_period_us");
        if (quota && period) limit = tighter(limit, cpus_from_cfs(*quota, *period));
      }
      break;
    }
  }
  return limit;
}

unsigned usable_cpus() {
  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  if (auto self = read_file("/proc/self/cgroup"))
    if (auto limit = cgroup_cpu_limit(*self, "/sys/fs/cgroup")) cpus = std::min(cpus, *limit);
  return std::max(1u, cpus);
}

}  // namespace slimfaas::net
