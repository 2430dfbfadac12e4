// Start-up: settings that are unknown or malformed stop the node with exit
// code 2 and one line naming the setting; every configured port serves.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "tests/integration/sync_fixture.hpp"

using namespace it;

namespace {

struct Outcome {
  std::optional<int> code;
  std::string log;
};

Outcome run_serve(Env env, std::vector<std::string> flags = {}) {
  std::vector<std::string> argv{slimfaas_binary(), "serve"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (!env.count("SLIMFAAS_PORTS")) env["SLIMFAAS_PORTS"] = std::to_string(free_port());
  Process p(argv, env, "slimfaas-startup");
  auto code = p.wait_exit(10s);
  return {code, p.log()};
}

const std::string one_function = R"({"Functions":[{"Name":"echo","Urls":["http://127.0.0.1:9"]}]})";

std::string echo_function(const Server& echo) {
  FunctionSpec spec;
  spec.urls = {echo.url()};
  return functions_json({spec});
}

}  // namespace

TEST_CASE("unknown and malformed settings stop start-up with exit code 2", "[integration][startup]") {
  struct Case {
    const char* what;
    Env env;
    std::vector<std::string> flags;
    const char* named;
  };
  const std::vector<Case> cases{
      {"unknown SlimFaas__ variable", {{"MOCK_KUBERNETES_FUNCTIONS", one_function}, {"SlimFaas__Bogus", "1"}}, {},
       "SlimFaas__Bogus"},
      {"malformed port", {{"MOCK_KUBERNETES_FUNCTIONS", one_function}, {"SLIMFAAS_PORTS", "http"}}, {}, "SLIMFAAS_PORTS"},
      {"unknown flag", {{"MOCK_KUBERNETES_FUNCTIONS", one_function}}, {"--no-such-setting", "1"}, "--no-such-setting"},
      {"malformed integer", {{"MOCK_KUBERNETES_FUNCTIONS", one_function}, {"SlimFaas__MaxConnections", "many"}}, {},
       "SlimFaas__MaxConnections"},
      {"malformed function list", {{"MOCK_KUBERNETES_FUNCTIONS", R"({"Functions":[{"Urls":[]}]})"}}, {},
       "Functions[0].Name"},
      {"no function source", {}, {}, "MOCK_KUBERNETES_FUNCTIONS"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto outcome = run_serve(c.env, c.flags);
      INFO(outcome.log);
      REQUIRE(outcome.code.has_value());
      CHECK(*outcome.code == 2);
      CHECK(outcome.log.find(c.named) != std::string::npos);
    }
  }
}

TEST_CASE("a flag wins over the environment", "[integration][startup]") {
  auto echo = start_echo();
  const int port = free_port();
  Process p({slimfaas_binary(), "serve", "--ports", std::to_string(port)},
            {{"SLIMFAAS_PORTS", "1"},  // would fail to bind if used
             {"MOCK_KUBERNETES_FUNCTIONS", echo_function(echo)}},
            "slimfaas-flag");
  CHECK(wait_http_ok("http://127.0.0.1:" + std::to_string(port) + "/health", 10s));
}

TEST_CASE("every configured port serves the same functions", "[integration][startup]") {
  auto echo = start_echo();
  const int first = free_port_block(2);
  const int second = first + 1;
  Process p({slimfaas_binary(), "serve"},
            {{"SlimFaas__Ports__0", std::to_string(first)},
             {"SlimFaas__Ports__1", std::to_string(second)},
             {"MOCK_KUBERNETES_FUNCTIONS", echo_function(echo)}},
            "slimfaas-ports");
  for (int port : {first, second}) {
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    REQUIRE(wait_http_ok(base + "/health", 10s));
    auto r = http_get(base + "/function/echo/inspect?via=" + std::to_string(port));
    CHECK(r.status == 200);
  }
}

TEST_CASE("a node's HTTP and actor threads carry a name saying what they are", "[integration][startup]") {
  // Operators tell threads apart with `top -H` or perf, and bench/async.py
  // splits a node's CPU by thread name. CAF itself names its scheduler's
  // workers like its network thread ("caf.multiplexer"); the node renames
  // both.
  auto echo = start_echo();
  const int port = free_port();
  Process p({slimfaas_binary(), "serve", "--ports", std::to_string(port), "--io-threads", "2", "--actor-threads",
             "3"},
            {{"MOCK_KUBERNETES_FUNCTIONS", echo_function(echo)}}, "slimfaas-thread-names");
  REQUIRE(wait_http_ok("http://127.0.0.1:" + std::to_string(port) + "/health", 10s));
  // Each thread is named once it runs: the one that did not answer
  // /health may be a moment behind.
  std::vector<std::string> names;
  const auto count = [&](const std::string& name) { return std::count(names.begin(), names.end(), name); };
  const bool named = wait_until(
      [&] {
        names = thread_names(p.pid());
        return count("http-io") == 2 && count("caf.worker") == 3 && count("caf.middleman") == 1 &&
               count("caf.multiplexer") == 0;
      },
      10s);
  std::string listed;
  for (const auto& name : names) listed += name + " ";
  INFO("threads: " << listed);
  CHECK(named);
}

TEST_CASE("a port already in use stops start-up with a message naming it", "[integration][startup]") {
  auto echo = start_echo();
  auto outcome = run_serve({{"SLIMFAAS_PORTS", std::to_string(echo.port)},
                            {"MOCK_KUBERNETES_FUNCTIONS", one_function}});
  INFO(outcome.log);
  REQUIRE(outcome.code.has_value());
  CHECK(*outcome.code != 0);
  CHECK(outcome.log.find(std::to_string(echo.port)) != std::string::npos);
}

TEST_CASE("a SlimData directory without peers warns that SlimData is off", "[integration][startup]") {
  auto echo = start_echo();
  const int port = free_port();
  Process p({slimfaas_binary(), "serve", "--ports", std::to_string(port)},
            {{"MOCK_KUBERNETES_FUNCTIONS", echo_function(echo)},
             {"SLIMDATA_DIRECTORY", temp_dir() + "/slimdata-without-peers"},
             {"SlimFaas__LogLevel", "info"}},
            "slimfaas-slimdata-off");
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  REQUIRE(wait_http_ok(base + "/health", 10s));
  CHECK(p.log().find("SlimData is off") != std::string::npos);
  auto r = http("POST", base + "/data/sets/k", {}, "v");
  CHECK(r.status == 503);
  CHECK(r.json().value_or(nlohmann::json::object()).value("error", "") == "slimdata_unavailable");
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What /proc/<pid>/smaps says of the process's anonymous mappings with the
// given permissions: "r-xp" is where moved code lives (file-backed code
// names its file), "rw-p" the heap.
struct AnonymousMappings {
  int mappings = 0;
  std::size_t huge_kib = 0;  // their AnonHugePages
};

AnonymousMappings anonymous_mappings(pid_t pid, const std::string& perms_wanted) {
  std::istringstream smaps(read_text("/proc/" + std::to_string(pid) + "/smaps"));
  AnonymousMappings found;
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, path;
    if (line.find('-') < line.find(' ') && fields >> range >> perms >> offset >> device >> inode) {
      fields >> path;
      inside = perms == perms_wanted && inode == "0" && path.empty();
      if (inside) ++found.mappings;
    } else if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      found.huge_kib += std::stoull(line.substr(14));
    }
  }
  return found;
}

bool transparent_huge_pages_off() {
  return read_text("/sys/kernel/mm/transparent_hugepage/enabled").find("[never]") != std::string::npos;
}

#if !defined(__SANITIZE_ADDRESS__)
// jemalloc's options as it printed them at exit (MALLOC_CONF's
// stats_print) for `slimfaas version` run with `malloc_conf` in its
// environment. (Sanitizer builds run on the sanitizer's allocator.)
std::string allocator_options(const std::string& malloc_conf) {
  Process version({slimfaas_binary(), "version"}, {{"MALLOC_CONF", malloc_conf}}, "slimfaas-version");
  REQUIRE(version.wait_exit(10s) == 0);
  return version.log();
}
#endif

}  // namespace

TEST_CASE("a node runs its code from huge pages, unless told not to", "[integration][startup]") {
  auto echo = start_echo();
  const bool thp_off = transparent_huge_pages_off();

  auto node = start_slimfaas(echo_function(echo));
  // The moved code runs: a call crosses the HTTP server, the actors and the
  // forwarding path.
  CHECK(http_get(node.url("/function/echo/inspect")).status == 200);
  const AnonymousMappings moved = anonymous_mappings(node.proc->pid(), "r-xp");
  INFO(node.proc->log_tail());
  if (thp_off) {
    WARN("transparent huge pages are off on this machine: only the refusal is checked");
    CHECK(node.proc->log().find("code: left on 4 KiB pages: transparent huge pages are off") != std::string::npos);
    CHECK(moved.mappings == 0);
  } else {
    CHECK(node.proc->log().find("KiB moved onto huge pages") != std::string::npos);
    CHECK(moved.mappings == 1);
    CHECK(moved.huge_kib >= 2048);
  }

  auto plain = start_slimfaas(echo_function(echo), {{"SlimFaas__HugePageCode", "false"}});
  CHECK(http_get(plain.url("/function/echo/inspect")).status == 200);
  CHECK(anonymous_mappings(plain.proc->pid(), "r-xp").mappings == 0);
  CHECK(plain.proc->log().find("huge pages") == std::string::npos);
}

TEST_CASE("a node's heap is on huge pages in two arenas, unless MALLOC_CONF says otherwise",
          "[integration][startup]") {
#if defined(__SANITIZE_ADDRESS__)
  WARN("sanitizer build: the server runs on the sanitizer's allocator, not jemalloc");
#else
  const std::string built_in = allocator_options("stats_print:true");
  INFO(built_in.substr(0, 4096));
  CHECK(built_in.find("opt.thp: \"always\"") != std::string::npos);
  CHECK(built_in.find("opt.narenas: 2\n") != std::string::npos);

  // The environment is read after the built-in settings, and wins.
  const std::string overridden = allocator_options("thp:default,narenas:6,stats_print:true");
  CHECK(overridden.find("opt.thp: \"default\"") != std::string::npos);
  CHECK(overridden.find("opt.narenas: 6\n") != std::string::npos);

  if (transparent_huge_pages_off()) {
    WARN("transparent huge pages are off on this machine: the heap's pages are not checked");
    return;
  }
  auto echo = start_echo();
  auto node = start_slimfaas(echo_function(echo), {{"SlimFaas__HugePageCode", "false"}});
  CHECK(http_get(node.url("/function/echo/inspect")).status == 200);
  // The moved code is off, so every anonymous huge page is the heap's.
  CHECK(anonymous_mappings(node.proc->pid(), "rw-p").huge_kib >= 2048);
#endif
}
