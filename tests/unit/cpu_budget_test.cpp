#include "net/cpu_budget.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "store_temp_dir.hpp"

using slimfaas::net::cgroup_cpu_limit;
using slimfaas::net::cpus_from_cfs;
using slimfaas::net::cpus_from_cpu_max;
using slimfaas::net::usable_cpus;

namespace {

void write(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

}  // namespace

TEST_CASE("cpu.max gives quota over period rounded up, or no limit") {
  CHECK(cpus_from_cpu_max("max 100000\n") == std::nullopt);
  CHECK(cpus_from_cpu_max("100000 100000\n") == 1u);
  CHECK(cpus_from_cpu_max("150000 100000\n") == 2u);
  CHECK(cpus_from_cpu_max("400000 100000") == 4u);
  CHECK(cpus_from_cpu_max("20000 100000") == 1u);  // a fifth of a CPU still gets one thread
  CHECK(cpus_from_cpu_max("") == std::nullopt);
  CHECK(cpus_from_cpu_max("garbage") == std::nullopt);
  CHECK(cpus_from_cpu_max("100000 0") == std::nullopt);
}

TEST_CASE("cgroup v1 quota: -1 is no limit") {
  CHECK(cpus_from_cfs(-1, 100000) == std::nullopt);
  CHECK(cpus_from_cfs(300000, 100000) == 3u);
  CHECK(cpus_from_cfs(250000, 100000) == 3u);
}

TEST_CASE("cgroup v2: the tightest cpu.max from the process's cgroup up to the root") {
  slimfaas::test::TempDir root;
  write(root / "cpu.max", "max 100000\n");
  write(root.path() / "kubepods.slice" / "cpu.max", "800000 100000\n");
  write(root.path() / "kubepods.slice" / "pod1" / "cpu.max", "200000 100000\n");
  write(root.path() / "kubepods.slice" / "pod1" / "app" / "cpu.max", "max 100000\n");
  CHECK(cgroup_cpu_limit("0::/kubepods.slice/pod1/app\n", root.path()) == 2u);
  CHECK(cgroup_cpu_limit("0::/kubepods.slice\n", root.path()) == 8u);
  CHECK(cgroup_cpu_limit("0::/\n", root.path()) == std::nullopt);
  // Inside a cgroup namespace the mount root is the process's own cgroup,
  // though /proc/self/cgroup may name a path the mount does not show.
  write(root / "cpu.max", "300000 100000\n");
  CHECK(cgroup_cpu_limit("0::/elsewhere/ctr\n", root.path()) == 3u);
}

TEST_CASE("cgroup v1: the cpu controller's quota") {
  slimfaas::test::TempDir root;
  write(root.path() / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n");
  write(root.path() / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n");
  write(root.path() / "cpu,cpuacct" / "docker" / "c1" / "cpu.cfs_quota_us", "150000\n");
  write(root.path() / "cpu,cpuacct" / "docker" / "c1" / "cpu.cfs_period_us", "100000\n");
  const std::string self = "12:memory:/docker/c1\n4:cpu,cpuacct:/docker/c1\n0::/\n";
  CHECK(cgroup_cpu_limit(self, root.path()) == 2u);
  // A controller line without cpu limits nothing.
  CHECK(cgroup_cpu_limit("12:memory:/docker/c1\n", root.path()) == std::nullopt);
  CHECK(cgroup_cpu_limit("4:cpu,cpuacct:/\n", root.path()) == std::nullopt);
}

TEST_CASE("usable CPUs are at least one and at most the machine's") {
  const unsigned cpus = usable_cpus();
  CHECK(cpus >= 1u);
  CHECK(cpus <= std::max(1u, std::thread::hardware_concurrency()));
}
