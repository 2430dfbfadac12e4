#include "app/local_manifest.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace slimfaas::app;
namespace fs = std::filesystem;

namespace {

using Env = std::map<std::string, std::string>;
using Strings = std::vector<std::string>;

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path path;

  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("slimfaas-local-manifest-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` without its first newline, so that line 1 of the file is
  // the first line after R"(.
  fs::path write(const std::string& name, std::string_view text) const {
    if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
    fs::path file = path / name;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << text;
    return file;
  }
};

std::string all_problems(const ManifestResult& result) {
  std::string out;
  for (const auto& p : result.problems) out += "\n  " + to_string(p);
  return out;
}

const ManifestProblem* find_problem(const ManifestResult& result, const std::string& field,
                                    const std::string& needle = "") {
  for (const auto& p : result.problems) {
    if (p.field == field && p.message.find(needle) != std::string::npos) return &p;
  }
  return nullptr;
}

// The result must hold a problem for `field` whose message contains
// `needle`, at `file`:`line`.
void expect_problem(const ManifestResult& result, const fs::path& file, int line, const std::string& field,
                    const std::string& needle) {
  INFO("problems:" << all_problems(result));
  INFO("expected " << file.string() << ":" << line << ": " << field << ": ..." << needle << "...");
  CHECK_FALSE(result.ok());
  const ManifestProblem* p = find_problem(result, field, needle);
  REQUIRE(p != nullptr);
  CHECK(p->file == file.string());
  CHECK(p->line == line);
  if (line > 0) CHECK(p->column > 0);
}

// A copy, so that it may be taken from a temporary result.
LocalManifest require_ok(const ManifestResult& result) {
  INFO("problems:" << all_problems(result));
  REQUIRE(result.ok());
  REQUIRE(result.problems.empty());
  return *result.manifest;
}

ManifestResult load(const std::vector<fs::path>& files, const std::vector<fs::path>& env_files = {},
                    const Env& env = {}) {
  return load_manifests(files, env_files, env);
}

}  // namespace

// ---------------------------------------------------------------------------
// Parsing

TEST_CASE("local manifest: the full example parses with every field", "[local_manifest]") {
  TempDir dir;
  fs::create_directories(dir.path / "some" / "dir");
  auto file = dir.write("slimfaas.local.yaml", R"(
schemaVersion: 1
name: demo
cluster: { nodes: 3, entrypointPort: 30020, nodeHttpPortBase: 30021, raftPortBase: 3262, nodeLogLevel: Error }
processPorts: { from: 5000, to: 5999 }
state: { mode: persistent, directory: .slimfaas/demo }
functions:
  fibonacci1:
    command: [ "python3", "app.py", "--port", "{port}" ]
    workingDirectory: some/dir
    annotations: { SlimFaas/Function: "true", SlimFaas/ReplicasMin: "0" }
    environment: { KEY: "value", SECRET: "${FROM_ENV}" }
    health: { path: /health, periodSeconds: 1, timeoutSeconds: 2, startupTimeoutSeconds: 120 }
    debugUrl: http://127.0.0.1:5050
)");
  auto result = load({file}, {}, {{"FROM_ENV", "s3cret"}});
  const LocalManifest& m = require_ok(result);
  const fs::path base = fs::absolute(dir.path).lexically_normal();

  CHECK(m.schema_version == 1);
  CHECK(m.name == "demo");
  CHECK(m.cluster.nodes == 3);
  CHECK(m.cluster.entrypoint_port == 30020);
  CHECK(m.cluster.node_http_port_base == 30021);
  CHECK(m.cluster.raft_port_base == 3262);
  CHECK(m.cluster.node_http_port(2) == 30023);
  CHECK(m.cluster.raft_port(2) == 3264);
  CHECK(m.cluster.node_log_level == "Error");
  CHECK(m.process_ports.from == 5000);
  CHECK(m.process_ports.to == 5999);
  CHECK(m.state.mode == StateMode::Persistent);
  CHECK(m.state.directory == base / ".slimfaas" / "demo");
  CHECK(m.base_directory == base);
  CHECK(m.files == std::vector<fs::path>{file});

  REQUIRE(m.functions.size() == 1);
  const LocalFunction& f = m.functions[0];
  CHECK(f.name == "fibonacci1");
  CHECK(f.command == Strings{"python3", "app.py", "--port", "{port}"});
  CHECK(f.working_directory == base / "some" / "dir");
  CHECK(f.annotations == slimfaas::k8s::Annotations{{"SlimFaas/Function", "true"}, {"SlimFaas/ReplicasMin", "0"}});
  CHECK(f.environment == Env{{"KEY", "value"}, {"SECRET", "s3cret"}});
  CHECK(f.health.path == "/health");
  CHECK(f.health.period_seconds == 1);
  CHECK(f.health.timeout_seconds == 2);
  CHECK(f.health.startup_timeout_seconds == 120);
  CHECK(f.debug_url == std::optional<std::string>("http://127.0.0.1:5050"));
  REQUIRE(f.debug_endpoint.has_value());
  CHECK(f.debug_endpoint->host == "127.0.0.1");
  CHECK(f.debug_endpoint->port == 5050);
  CHECK(f.managed);
  CHECK(f.config.replicas_min == 0);
  CHECK(m.find_function("fibonacci1") == &f);
  CHECK(m.find_function("nope") == nullptr);
}

TEST_CASE("local manifest: values that differ from the defaults are all read", "[local_manifest]") {
  TempDir dir;
  fs::create_directories(dir.path / "fn");
  auto file = dir.write("m.yaml", R"(
schemaVersion: 1
name: other
cluster:
  nodes: 2
  entrypointPort: 40000
  nodeHttpPortBase: 40001
  raftPortBase: 4000
  nodeLogLevel: warning
processPorts:
  from: 6000
  to: 6100
state:
  mode: Ephemeral
  directory: /tmp/somewhere/state
functions:
  svc:
    command:
      - ./run
    workingDirectory: ./fn/
    annotations:
      SlimFaas/Function: "True"
      SlimFaas/NumberParallelRequest: "4"
      SlimFaas/DefaultVisibility: Private
      prometheus.io/port: "{port}"
    health:
      path: /ready
      periodSeconds: 5
      timeoutSeconds: 6
      startupTimeoutSeconds: 7
  debug-only:
    debugUrl: "http://[::1]:5051/"
  plain:
    command: [sleep, "10"]
)");
  const LocalManifest& m = require_ok(load({file}));
  const fs::path base = fs::absolute(dir.path).lexically_normal();
  CHECK(m.name == "other");
  CHECK(m.cluster.nodes == 2);
  CHECK(m.cluster.entrypoint_port == 40000);
  CHECK(m.cluster.node_http_port_base == 40001);
  CHECK(m.cluster.raft_port_base == 4000);
  CHECK(m.cluster.node_log_level == "Warning");  // case-insensitive, canonical spelling
  CHECK(m.process_ports.from == 6000);
  CHECK(m.process_ports.to == 6100);
  CHECK(m.state.mode == StateMode::Ephemeral);
  CHECK(m.state.directory == fs::path("/tmp/somewhere/state"));

  REQUIRE(m.functions.size() == 3);  // document order
  CHECK(m.functions[0].name == "svc");
  CHECK(m.functions[1].name == "debug-only");
  CHECK(m.functions[2].name == "plain");

  const LocalFunction& svc = m.functions[0];
  CHECK(svc.command == Strings{"./run"});
  CHECK(svc.working_directory == base / "fn");
  CHECK(svc.managed);
  CHECK(svc.config.parallel == 4);
  CHECK(svc.config.default_visibility == slimfaas::k8s::Visibility::Private);
  CHECK(svc.annotations.at("prometheus.io/port") == "{port}");  // other domains are kept as they are
  CHECK(svc.health.path == "/ready");
  CHECK(svc.health.period_seconds == 5);
  CHECK(svc.health.timeout_seconds == 6);
  CHECK(svc.health.startup_timeout_seconds == 7);
  CHECK_FALSE(svc.debug_url.has_value());

  const LocalFunction& debug = m.functions[1];
  CHECK(debug.command.empty());
  REQUIRE(debug.debug_endpoint.has_value());
  CHECK(debug.debug_endpoint->host == "::1");
  CHECK(debug.debug_endpoint->port == 5051);
  CHECK(debug.working_directory == base);
  CHECK_FALSE(debug.managed);

  // Without SlimFaas/Function: "true" a function is listed, unmanaged, and that is no problem.
  CHECK(m.functions[2].command == Strings{"sleep", "10"});
  CHECK_FALSE(m.functions[2].managed);
}

TEST_CASE("local manifest: defaults", "[local_manifest]") {
  TempDir dir;
  auto file = dir.write("slimfaas.local.yaml", R"(
name: demo
functions:
  f:
    command: [f]
)");
  const LocalManifest& m = require_ok(load({file}));
  const fs::path base = fs::absolute(dir.path).lexically_normal();
  CHECK(m.schema_version == 1);
  CHECK(m.cluster.nodes == 1);
  CHECK(m.cluster.entrypoint_port == 30020);
  CHECK(m.cluster.node_http_port_base == 30021);
  CHECK(m.cluster.raft_port_base == 3262);
  CHECK(m.cluster.node_log_level == "Error");
  CHECK(m.process_ports.from == 5000);
  CHECK(m.process_ports.to == 5999);
  CHECK(m.state.mode == StateMode::Persistent);
  CHECK(m.state.directory == base / ".slimfaas" / "demo");
  REQUIRE(m.functions.size() == 1);
  const LocalFunction& f = m.functions[0];
  CHECK(f.health.path == "/health");
  CHECK(f.health.period_seconds == 1);
  CHECK(f.health.timeout_seconds == 2);
  CHECK(f.health.startup_timeout_seconds == 120);
  CHECK(f.working_directory == base);
  CHECK(f.annotations.empty());
  CHECK(f.environment.empty());
  CHECK_FALSE(f.debug_url.has_value());
  CHECK_FALSE(f.managed);
  CHECK(f.config.parallel == 10);
}

TEST_CASE("local manifest: a manifest without functions is valid", "[local_manifest]") {
  TempDir dir;
  auto file = dir.write("m.yaml", "name: empty\n");
  const LocalManifest& m = require_ok(load({file}));
  CHECK(m.functions.empty());
}

TEST_CASE("local manifest: structural keys are case-insensitive", "[local_manifest]") {
  TempDir dir;
  auto base = dir.write("base.yaml", R"(
Name: demo
Cluster: { Nodes: 2 }
functions:
  f:
    Command: [f]
    environment: { A: "1" }
    Health: { PeriodSeconds: 4 }
)");
  auto overlay = dir.write("overlay.yaml", R"(
functions:
  f:
    Environment: { B: "2" }
)");
  const LocalManifest& m = require_ok(load({base, overlay}));
  CHECK(m.name == "demo");
  CHECK(m.cluster.nodes == 2);
  REQUIRE(m.functions.size() == 1);
  CHECK(m.functions[0].command == Strings{"f"});
  CHECK(m.functions[0].health.period_seconds == 4);
  CHECK(m.functions[0].environment == Env{{"A", "1"}, {"B", "2"}});  // merged, not two keys
}

// ---------------------------------------------------------------------------
// Overlays

TEST_CASE("local manifest: overlays merge mappings and replace scalars and lists and null removes",
          "[local_manifest]") {
  TempDir dir;
  auto base = dir.write("slimfaas.local.yaml", R"(
name: demo
cluster:
  nodes: 3
  nodeLogLevel: Warning
functions:
  a:
    command: [python3, a.py, --port, "{port}"]
    annotations: { SlimFaas/Function: "true", SlimFaas/ReplicasMin: "1" }
    environment: { KEEP: base, DROP: x, SHARED: base }
  b:
    command: [b]
)");
  auto overlay = dir.write("slimfaas.local.dev.yaml", R"(
cluster:
  nodes: 2
functions:
  a:
    command: [node, a.js]
    environment: { SHARED: overlay, DROP: null }
  b: null
  c:
    command: [c]
    environment: { GONE: null, HERE: "yes" }
)");
  const LocalManifest& m = require_ok(load({base, overlay}));
  CHECK(m.cluster.nodes == 2);                   // scalar replaced
  CHECK(m.cluster.node_log_level == "Warning");  // sibling kept
  REQUIRE(m.functions.size() == 2);
  CHECK(m.find_function("b") == nullptr);  // removed by null
  const LocalFunction* a = m.find_function("a");
  REQUIRE(a != nullptr);
  CHECK(a->command == Strings{"node", "a.js"});  // list replaced, not appended
  CHECK(a->environment == Env{{"KEEP", "base"}, {"SHARED", "overlay"}});
  CHECK(a->annotations.at("SlimFaas/ReplicasMin") == "1");  // untouched mapping kept
  CHECK(a->managed);
  const LocalFunction* c = m.find_function("c");  // added
  REQUIRE(c != nullptr);
  CHECK(c->command == Strings{"c"});
  CHECK(c->environment == Env{{"HERE", "yes"}});
  // Paths stay relative to the first manifest.
  CHECK(m.base_directory == fs::absolute(dir.path).lexically_normal());
}

TEST_CASE("local manifest: overlay paths resolve against the first manifest's directory", "[local_manifest]") {
  TempDir dir;
  fs::create_directories(dir.path / "project" / "src");
  auto base = dir.write("project/slimfaas.local.yaml", "name: demo\nfunctions:\n  f:\n    command: [f]\n");
  auto overlay = dir.write("elsewhere/dev.yaml", "functions:\n  f:\n    workingDirectory: src\n");
  const LocalManifest& m = require_ok(load({base, overlay}));
  CHECK(m.functions.at(0).working_directory == fs::absolute(dir.path / "project" / "src").lexically_normal());
}

TEST_CASE("local manifest: a problem in an overlay points at the overlay's line", "[local_manifest]") {
  TempDir dir;
  auto base = dir.write("base.yaml", R"(
name: demo
cluster:
  nodes: 3
functions:
  f:
    command: [f]
)");
  auto overlay = dir.write("overlay.yaml", R"(
# the overlay
cluster:
  nodes: 12
functions:
  f:
    health:
      periodSeconds: zero
)");
  auto result = load({base, overlay});
  expect_problem(result, overlay, 3, "cluster.nodes", "between 1 and 9");
  expect_problem(result, overlay, 7, "functions.f.health.periodSeconds", "expected an integer");
  CHECK(result.problems.size() == 2);
}

TEST_CASE("local manifest: an overlay value replaces a bad one before validation", "[local_manifest]") {
  TempDir dir;
  auto base = dir.write("base.yaml", "name: demo\ncluster:\n  nodes: 42\n");
  auto overlay = dir.write("overlay.yaml", "cluster:\n  nodes: 2\n");
  CHECK(require_ok(load({base, overlay})).cluster.nodes == 2);
  // And the other way round the problem names the base file.
  auto result = load({overlay, base});
  expect_problem(result, base, 3, "cluster.nodes", "between 1 and 9");
}

TEST_CASE("local manifest: an empty overlay changes nothing", "[local_manifest]") {
  TempDir dir;
  auto base = dir.write("base.yaml", "name: demo\n");
  auto empty = dir.write("empty.yaml", "# nothing here\n");
  CHECK(require_ok(load({base, empty})).name == "demo");
}

// ---------------------------------------------------------------------------
// Interpolation

TEST_CASE("local manifest: variable interpolation", "[local_manifest]") {
  TempDir dir;
  auto env_file = dir.write(".env.local", R"(
WHO=file
ONLY_FILE=from-file
NODES=2
EMPTY=
)");
  auto file = dir.write("m.yaml", R"(
name: ${NAME:-demo}
cluster:
  nodes: ${NODES}
functions:
  f:
    command: ["run", "--who=${WHO}", "--price=$$5", "${ONLY_FILE}", "$HOME-is-literal"]
    annotations:
      SlimFaas/Function: "true"
      SlimFaas/NumberParallelRequest: "${PARALLEL:-7}"
    environment:
      WHO: "${WHO}"
      EMPTY_DEFAULT: "${EMPTY:-fallback}"
      UNSET_DEFAULT: "${NOT_SET_ANYWHERE:-}"
      TWO: "${WHO}/${ONLY_FILE}"
)");
  const LocalManifest& m = require_ok(load({file}, {env_file}, {{"WHO", "process"}}));
  CHECK(m.name == "demo");
  CHECK(m.cluster.nodes == 2);
  const LocalFunction& f = m.functions.at(0);
  // The process environment wins over the env file; $$ is a literal $.
  CHECK(f.command == Strings{"run", "--who=process", "--price=$5", "from-file", "$HOME-is-literal"});
  CHECK(f.config.parallel == 7);
  CHECK(f.annotations.at("SlimFaas/NumberParallelRequest") == "7");
  CHECK(f.environment ==
        Env{{"WHO", "process"}, {"EMPTY_DEFAULT", "fallback"}, {"UNSET_DEFAULT", ""}, {"TWO", "process/from-file"}});
}

TEST_CASE("local manifest: an empty process variable still wins without a default", "[local_manifest]") {
  TempDir dir;
  auto env_file = dir.write(".env", "X=file\n");
  auto file = dir.write("m.yaml", "name: demo\nfunctions:\n  f:\n    command: [f]\n    environment: { X: \"${X}\" }\n");
  CHECK(require_ok(load({file}, {env_file}, {{"X", ""}})).functions.at(0).environment.at("X").empty());
  CHECK(require_ok(load({file}, {env_file}, {})).functions.at(0).environment.at("X") == "file");
}

TEST_CASE("local manifest: an undefined variable is a problem naming it", "[local_manifest]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
functions:
  f:
    command: [f, "${MISSING_ARG}"]
    environment:
      SECRET: "${FROM_ENV}"
    debugUrl: "http://127.0.0.1:${DEBUG_PORT}"
)");
  auto result = load({file}, {}, {{"OTHER", "x"}});
  expect_problem(result, file, 4, "functions.f.command[1]", "undefined variable MISSING_ARG");
  expect_problem(result, file, 6, "functions.f.environment.SECRET", "undefined variable FROM_ENV");
  expect_problem(result, file, 7, "functions.f.debugUrl", "undefined variable DEBUG_PORT");
  // Reported once: the undefined variable, not also a bad URL.
  CHECK(result.problems.size() == 3);
}

TEST_CASE("local manifest: malformed interpolations are problems", "[local_manifest]") {
  TempDir dir;
  auto file = dir.write("m.yaml", "name: demo\nfunctions:\n  f:\n    command: [\"${1BAD}\", \"${OPEN\"]\n");
  auto result = load({file});
  expect_problem(result, file, 4, "functions.f.command[0]", "invalid variable name '1BAD'");
  expect_problem(result, file, 4, "functions.f.command[1]", "unterminated");
}

TEST_CASE("local manifest: later env files override earlier ones", "[local_manifest]") {
  TempDir dir;
  auto first = dir.write("a.env", "A=first\nB=first\n");
  auto second = dir.write("b.env", "B=second\n");
  auto file = dir.write(
      "m.yaml", "name: demo\nfunctions:\n  f:\n    command: [f]\n    environment: { A: \"${A}\", B: \"${B}\" }\n");
  CHECK(require_ok(load({file}, {first, second})).functions.at(0).environment == Env{{"A", "first"}, {"B", "second"}});
  CHECK(require_ok(load({file}, {second, first})).functions.at(0).environment == Env{{"A", "first"}, {"B", "first"}});
}

// ---------------------------------------------------------------------------
// dotenv

TEST_CASE("dotenv: the accepted forms", "[local_manifest][dotenv]") {
  std::vector<ManifestProblem> problems;
  auto values = parse_dotenv(
      "# a comment\n"
      "\n"
      "PLAIN=value\n"
      "export EXPORTED=yes\n"
      "  SPACED = padded value  \n"
      "SINGLE='single $NOT ${INTERPOLATED} \\n'\n"
      "DOUBLE=\"line\\nbreak \\\"quoted\\\" back\\\\slash\"\n"
      "INLINE=value # a comment\n"
      "HASH=a#b\n"
      "QUOTED_COMMENT=\"x # y\" # comment\n"
      "EMPTY=\n"
      "WINDOWS=crlf\r\n"
      "EQUALS=a=b=c\n"
      "PLAIN=overridden\n",
      ".env", problems);
  INFO(problems.size());
  CHECK(problems.empty());
  CHECK(values == Env{{"PLAIN", "overridden"},
                      {"EXPORTED", "yes"},
                      {"SPACED", "padded value"},
                      {"SINGLE", "single $NOT ${INTERPOLATED} \\n"},
                      {"DOUBLE", "line\nbreak \"quoted\" back\\slash"},
                      {"INLINE", "value"},
                      {"HASH", "a#b"},
                      {"QUOTED_COMMENT", "x # y"},
                      {"EMPTY", ""},
                      {"WINDOWS", "crlf"},
                      {"EQUALS", "a=b=c"}});
}

TEST_CASE("dotenv: malformed lines are problems with their line", "[local_manifest][dotenv]") {
  std::vector<ManifestProblem> problems;
  auto values = parse_dotenv(
      "GOOD=1\n"
      "no equals sign\n"
      "1BAD=x\n"
      "OPEN=\"never closed\n"
      "TRAIL='x' junk\n"
      "ALSO_GOOD=2\n",
      "dev.env", problems);
  CHECK(values == Env{{"GOOD", "1"}, {"ALSO_GOOD", "2"}});
  REQUIRE(problems.size() == 4);
  CHECK(problems[0].file == "dev.env");
  CHECK(problems[0].line == 2);
  CHECK(problems[0].message.find("KEY=value") != std::string::npos);
  CHECK(problems[1].line == 3);
  CHECK(problems[1].message.find("not a valid variable name") != std::string::npos);
  CHECK(problems[2].line == 4);
  CHECK(problems[2].field == "OPEN");
  CHECK(problems[2].message.find("unterminated") != std::string::npos);
  CHECK(problems[3].line == 5);
  CHECK(problems[3].message.find("after the closing quote") != std::string::npos);
}

TEST_CASE("dotenv: problems in an env file are reported by load_manifests", "[local_manifest][dotenv]") {
  TempDir dir;
  auto env_file = dir.write("bad.env", "OK=1\noops\n");
  auto file = dir.write("m.yaml", "name: demo\n");
  auto result = load({file}, {env_file, dir.path / "missing.env"});
  expect_problem(result, env_file, 2, "", "KEY=value");
  expect_problem(result, dir.path / "missing.env", 0, "", "cannot read");
}

// ---------------------------------------------------------------------------
// Problems, one kind at a time

TEST_CASE("local manifest: SlimFaas sections not built yet are named as such", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", "name: demo\njobs:\n  batch: {}\nprocesses:\n  front: {}\n");
  auto result = load({file});
  expect_problem(result, file, 2, "jobs", "jobs (jobs:) are not supported by this build yet");
  expect_problem(result, file, 4, "processes", "auxiliary processes (processes:) are not supported by this build yet");
}

TEST_CASE("local manifest: unknown keys at every level with a suggestion", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
clustr: { nodes: 1 }
cluster:
  node: 2
processPorts: { from: 5000, to: 5999, step: 1 }
state: { mode: persistent, dir: x }
functions:
  f:
    command: [f]
    comand: [g]
    health:
      period: 3
)");
  auto result = load({file});
  expect_problem(result, file, 2, "clustr", "did you mean 'cluster'");
  expect_problem(result, file, 4, "cluster.node", "did you mean 'nodes'");
  expect_problem(result, file, 5, "processPorts.step", "unknown key 'step'");
  expect_problem(result, file, 6, "state.dir", "unknown key");
  expect_problem(result, file, 10, "functions.f.comand", "did you mean 'command'");
  expect_problem(result, file, 12, "functions.f.health.period", "unknown key 'period'");
  CHECK(find_problem(result, "processPorts.step", "did you mean") == nullptr);  // nothing close
  CHECK(result.problems.size() == 6);
}

TEST_CASE("local manifest: wrong types and out-of-range values", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
cluster:
  nodes: 0
  entrypointPort: abc
  nodeHttpPortBase: 70000
  raftPortBase: [1]
processPorts: 5000
functions:
  f:
    command: "python3 app.py"
    health:
      periodSeconds: 0
      timeoutSeconds: -1
      startupTimeoutSeconds: 1.5
      path: health
  g:
    command: [g, {a: b}]
    environment: [A=1]
  h: just-a-string
)");
  auto result = load({file});
  expect_problem(result, file, 3, "cluster.nodes", "between 1 and 9");
  expect_problem(result, file, 4, "cluster.entrypointPort", "expected an integer, got 'abc'");
  expect_problem(result, file, 5, "cluster.nodeHttpPortBase", "between 1 and 65535");
  expect_problem(result, file, 6, "cluster.raftPortBase", "expected an integer, got a list");
  expect_problem(result, file, 7, "processPorts", "expected a mapping");
  expect_problem(result, file, 10, "functions.f.command", "expected a list of strings");
  expect_problem(result, file, 12, "functions.f.health.periodSeconds", "at least 1");
  expect_problem(result, file, 13, "functions.f.health.timeoutSeconds", "at least 1");
  expect_problem(result, file, 14, "functions.f.health.startupTimeoutSeconds", "expected an integer");
  expect_problem(result, file, 15, "functions.f.health.path", "must start with '/'");
  expect_problem(result, file, 17, "functions.g.command[1]", "expected a string, got a mapping");
  expect_problem(result, file, 18, "functions.g.environment", "expected a mapping, got a list");
  expect_problem(result, file, 19, "functions.h", "expected a mapping");
}

TEST_CASE("local manifest: name is required and must be a usable name", "[local_manifest][problems]") {
  TempDir dir;
  auto missing = dir.write("a.yaml", "schemaVersion: 1\n");
  auto result = load({missing});
  expect_problem(result, missing, 0, "name", "is required");

  auto removed = dir.write("b.yaml", "name: null\n");
  expect_problem(load({dir.write("base.yaml", "name: demo\n"), removed}), dir.path / "base.yaml", 0, "name",
                 "is required");

  auto bad = dir.write("c.yaml", "schemaVersion: 1\nname: ../escape\n");
  expect_problem(load({bad}), bad, 2, "name", "not a valid name");
}

TEST_CASE("local manifest: unsupported schemaVersion", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", "name: demo\nschemaVersion: 2\n");
  expect_problem(load({file}), file, 2, "schemaVersion", "only 1 is supported");
}

TEST_CASE("local manifest: processPorts.from greater than to", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", "name: demo\nprocessPorts:\n  from: 6000\n  to: 5000\n");
  expect_problem(load({file}), file, 3, "processPorts", "from (6000) is greater than to (5000)");
}

TEST_CASE("local manifest: port clashes", "[local_manifest][problems]") {
  TempDir dir;
  SECTION("the entrypoint is one of the node HTTP ports") {
    auto file = dir.write("m.yaml", "name: demo\ncluster:\n  nodes: 3\n  entrypointPort: 30022\n");
    expect_problem(load({file}), file, 4, "cluster.entrypointPort",
                   "port 30022 (entrypoint port) is also the node HTTP port of node 1");
  }
  SECTION("node HTTP ports and Raft ports overlap") {
    auto file = dir.write("m.yaml", R"(
name: demo
cluster:
  nodes: 3
  nodeHttpPortBase: 4000
  raftPortBase: 4002
)");
    auto result = load({file});
    expect_problem(result, file, 5, "cluster.raftPortBase",
                   "port 4002 (Raft port of node 0) is also the node HTTP port of node 2");
    CHECK(result.problems.size() == 1);  // one report per pair of fields
  }
  SECTION("clashes between node ports are reported even when processPorts is bad") {
    auto file = dir.write("m.yaml", R"(
name: demo
cluster:
  nodes: 3
  nodeHttpPortBase: 3260
processPorts: { from: 9000, to: 8000 }
)");
    auto result = load({file});
    // Reported at the field the user wrote, not at the default it meets.
    expect_problem(result, file, 4, "cluster.nodeHttpPortBase",
                   "port 3262 (node HTTP port of node 2) is also the Raft port of node 0");
    expect_problem(result, file, 5, "processPorts", "greater than");
  }
  SECTION("Raft ports fall inside processPorts") {
    auto file = dir.write("m.yaml", R"(
name: demo
cluster:
  nodes: 2
  raftPortBase: 5999
)");
    expect_problem(load({file}), file, 4, "cluster.raftPortBase",
                   "port 5999 (Raft port of node 0) is inside processPorts 5000..5999");
  }
  SECTION("the entrypoint falls inside processPorts given in an overlay") {
    auto base = dir.write("m.yaml", "name: demo\n");
    auto overlay = dir.write("o.yaml", "processPorts:\n  from: 30000\n  to: 30010\n");
    auto file = dir.write("e.yaml", "cluster:\n  entrypointPort: 30005\n  nodeHttpPortBase: 31000\n");
    expect_problem(load({base, overlay, file}), file, 2, "cluster.entrypointPort",
                   "port 30005 (entrypoint port) is inside processPorts 30000..30010");
  }
  SECTION("node ports beyond 65535") {
    auto file = dir.write("m.yaml", "name: demo\ncluster:\n  nodes: 3\n  nodeHttpPortBase: 65534\n");
    expect_problem(load({file}), file, 4, "cluster.nodeHttpPortBase", "go beyond 65535");
  }
  SECTION("a debugUrl on a node port") {
    auto file = dir.write("m.yaml", "name: demo\nfunctions:\n  f:\n    debugUrl: http://127.0.0.1:3262\n");
    expect_problem(load({file}), file, 4, "functions.f.debugUrl", "is also the Raft port of node 0");
  }
}

TEST_CASE("local manifest: function commands", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
functions:
  nothing:
    annotations: { SlimFaas/Function: "true" }
  empty:
    command: []
  blank:
    command: ["", x]
  debug-clears:
    command: []
    debugUrl: http://127.0.0.1:5050
)");
  auto result = load({file});
  expect_problem(result, file, 3, "functions.nothing", "needs a command (or a debugUrl)");
  expect_problem(result, file, 6, "functions.empty.command", "must not be empty");
  expect_problem(result, file, 8, "functions.blank.command[0]", "must not be empty");
  CHECK(find_problem(result, "functions.debug-clears.command") == nullptr);
  CHECK(result.problems.size() == 3);
}

TEST_CASE("local manifest: workingDirectory must exist", "[local_manifest][problems]") {
  TempDir dir;
  dir.write("a-file", "x");
  auto file = dir.write("m.yaml", R"(
name: demo
functions:
  f:
    command: [f]
    workingDirectory: does/not/exist
  g:
    command: [g]
    workingDirectory: a-file
)");
  auto result = load({file});
  expect_problem(result, file, 5, "functions.f.workingDirectory", "does not exist");
  expect_problem(result, file, 8, "functions.g.workingDirectory", "is not a directory");
  const ManifestProblem* p = find_problem(result, "functions.f.workingDirectory");
  REQUIRE(p != nullptr);
  // The message names the resolved directory (relative to the manifest).
  CHECK(p->message.find((fs::absolute(dir.path) / "does" / "not" / "exist").lexically_normal().string()) !=
        std::string::npos);
}

TEST_CASE("local manifest: bad annotation values and unknown annotations", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
functions:
  f:
    command: [f]
    annotations:
      SlimFaas/Function: "true"
      SlimFaas/ReplicasMin: "-1"
      SlimFaas/NumberParallelRequest: "many"
      SlimFaas/DefaultVisibility: Secret
      SlimFaas/ReplicaMin: "1"
      slimfaas/function: "true"
      prometheus.io/scrape: "true"
      SlimFaas/Configuration: '{"DefaultSync": {"HttpTimeout": "soon"}}'
  g:
    command: [g]
    annotations:
      SlimFaas/Function: "maybe"
      SlimFaas/DependsOn: [a, b]
)");
  auto result = load({file});
  expect_problem(result, file, 7, "functions.f.annotations.SlimFaas/ReplicasMin", "'-1' must be >= 0");
  // A validation error, not a fallback: parse_annotations' "; using default" is left out.
  CHECK(find_problem(result, "functions.f.annotations.SlimFaas/ReplicasMin", "using") == nullptr);
  expect_problem(result, file, 8, "functions.f.annotations.SlimFaas/NumberParallelRequest", "is not an integer");
  expect_problem(result, file, 9, "functions.f.annotations.SlimFaas/DefaultVisibility", "is not Public or Private");
  expect_problem(result, file, 10, "functions.f.annotations.SlimFaas/ReplicaMin",
                 "did you mean 'SlimFaas/ReplicasMin'");
  expect_problem(result, file, 11, "functions.f.annotations.slimfaas/function", "did you mean 'SlimFaas/Function'");
  expect_problem(result, file, 13, "functions.f.annotations.SlimFaas/Configuration", "HttpTimeout");
  expect_problem(result, file, 17, "functions.g.annotations.SlimFaas/Function", "is not true or false");
  expect_problem(result, file, 18, "functions.g.annotations.SlimFaas/DependsOn", "expected a string, got a list");
  // Annotations of other domains are Kubernetes annotations like any other.
  CHECK(find_problem(result, "functions.f.annotations.prometheus.io/scrape") == nullptr);
  CHECK(result.problems.size() == 8);
}

TEST_CASE("local manifest: debugUrl must be http://host:port", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
functions:
  a:
    debugUrl: https://127.0.0.1:5050
  b:
    debugUrl: http://127.0.0.1
  c:
    debugUrl: http://127.0.0.1:5050/path
  d:
    debugUrl: http://127.0.0.1:99999
  e:
    debugUrl: {host: x}
)");
  auto result = load({file});
  expect_problem(result, file, 4, "functions.a.debugUrl", "not an http:// URL");
  expect_problem(result, file, 6, "functions.b.debugUrl", "must give its port explicitly");
  expect_problem(result, file, 8, "functions.c.debugUrl", "must not carry a path");
  expect_problem(result, file, 10, "functions.d.debugUrl", "invalid port");
  expect_problem(result, file, 12, "functions.e.debugUrl", "expected a string");
  CHECK(result.problems.size() == 5);
}

TEST_CASE("local manifest: state.mode and nodeLogLevel take known values", "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("m.yaml", R"(
name: demo
cluster:
  nodeLogLevel: Verbose
state:
  mode: temporary
  directory: ""
)");
  auto result = load({file});
  expect_problem(result, file, 3, "cluster.nodeLogLevel",
                 "is not one of Trace, Debug, Information, Warning, Error, Critical, None");
  expect_problem(result, file, 5, "state.mode", "'temporary' is not persistent or ephemeral");
  expect_problem(result, file, 6, "state.directory", "must not be empty");
}

TEST_CASE("local manifest: YAML syntax errors report yaml-cpp's mark", "[local_manifest][problems]") {
  TempDir dir;
  auto good = dir.write("good.yaml", "name: demo\n");
  auto bad = dir.write("bad.yaml", "name: demo\nfunctions:\n  f:\n    command: [a, b\n");
  auto also_bad = dir.write("also.yaml", "cluster: {nodes: 1\n");
  auto result = load({good, bad, also_bad});
  INFO(all_problems(result));
  REQUIRE(result.problems.size() == 2);
  CHECK(result.problems[0].file == bad.string());
  CHECK(result.problems[0].line >= 4);
  CHECK(result.problems[0].column > 0);
  CHECK(result.problems[0].message.find("YAML syntax error") != std::string::npos);
  CHECK(result.problems[1].file == also_bad.string());
  CHECK(result.problems[1].line >= 1);
  CHECK(result.problems[1].message.find("YAML syntax error") != std::string::npos);
}

TEST_CASE("local manifest: unreadable files and non-mapping documents and duplicate keys",
          "[local_manifest][problems]") {
  TempDir dir;
  SECTION("a missing file") {
    auto result = load({dir.path / "absent.yaml"});
    expect_problem(result, dir.path / "absent.yaml", 0, "", "cannot read the manifest file");
  }
  SECTION("no file at all") {
    auto result = load({});
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].message == "no manifest file given");
  }
  SECTION("a list instead of a mapping") {
    auto file = dir.write("m.yaml", "- name: demo\n");
    expect_problem(load({file}), file, 1, "", "must be a mapping");
  }
  SECTION("several documents in one file") {
    auto file = dir.write("m.yaml", "name: demo\n---\nname: other\n");
    expect_problem(load({file}), file, 3, "", "one YAML document");
  }
  SECTION("a key given twice, exactly or by case") {
    auto file = dir.write("m.yaml", "name: demo\ncluster:\n  nodes: 1\n  Nodes: 2\nname: again\n");
    auto result = load({file});
    expect_problem(result, file, 5, "name", "duplicate key (first defined at line 1)");
    expect_problem(result, file, 4, "cluster.nodes",
                   "duplicate key (keys are case-insensitive; first defined at line 3)");
  }
}

TEST_CASE("local manifest: several problems from one file are reported together and in order",
          "[local_manifest][problems]") {
  TempDir dir;
  auto file = dir.write("slimfaas.local.yaml", R"(
schemaVersion: 3
cluster:
  nodes: 20
processPorts: { from: 9000, to: 8000 }
state: { mode: forever }
functions:
  f:
    workingDirectory: nowhere
    annotations: { SlimFaas/ReplicasAtStart: "x" }
    health: { timeoutSeconds: 0 }
)");
  auto result = load({file});
  expect_problem(result, file, 0, "name", "is required");
  expect_problem(result, file, 1, "schemaVersion", "only 1 is supported");
  expect_problem(result, file, 3, "cluster.nodes", "between 1 and 9");
  expect_problem(result, file, 4, "processPorts", "greater than");
  expect_problem(result, file, 5, "state.mode", "not persistent or ephemeral");
  expect_problem(result, file, 7, "functions.f", "needs a command");
  expect_problem(result, file, 8, "functions.f.workingDirectory", "does not exist");
  expect_problem(result, file, 9, "functions.f.annotations.SlimFaas/ReplicasAtStart", "is not an integer");
  expect_problem(result, file, 10, "functions.f.health.timeoutSeconds", "at least 1");
  CHECK(result.problems.size() == 9);
  CHECK_FALSE(result.manifest.has_value());
  for (std::size_t i = 1; i < result.problems.size(); ++i) {
    CHECK(result.problems[i - 1].line <= result.problems[i].line);
  }
}

TEST_CASE("local manifest: problems print as file:line:col: field: message", "[local_manifest]") {
  CHECK(to_string(ManifestProblem{"m.yaml", 4, 10, "cluster.nodes", "must be between 1 and 9, got 12"}) ==
        "m.yaml:4:10: cluster.nodes: must be between 1 and 9, got 12");
  CHECK(to_string(ManifestProblem{"m.yaml", 0, 0, "name", "is required"}) == "m.yaml: name: is required");
  CHECK(to_string(ManifestProblem{"", 0, 0, "", "no manifest file given"}) == "no manifest file given");
}
