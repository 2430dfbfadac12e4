#include "app/config.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

using namespace slimfaas::app;
using namespace std::chrono_literals;

namespace {

using Args = std::vector<std::string>;
using Ports = std::vector<std::uint16_t>;

// load_config must throw ConfigError whose message holds every needle.
void check_error(const Args& args, const Environment& env, const std::vector<std::string>& needles) {
  try {
    (void)load_config(args, env);
    FAIL("accepted; expected a ConfigError naming " << Catch::Detail::stringify(needles));
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    for (const auto& needle : needles) CHECK(message.find(needle) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("load_config: defaults", "[config]") {
  NodeConfig c = load_config({}, {});
  CHECK(c.server.ports == Ports{5000});
  CHECK(c.server.address == "0.0.0.0");
  CHECK(c.server.io_threads == 0);
  CHECK(c.server.cors_allow_origin == "*");
  CHECK(c.server.limits.max_header_bytes == 16384);
  CHECK(c.server.limits.max_body_bytes == 104857600);
  CHECK(c.server.limits.max_api_body_bytes == 1048576);
  CHECK(c.server.limits.max_connections == 10000);
  CHECK(c.server.limits.idle_timeout == 60s);
  CHECK(c.server.limits.read_timeout == 30s);
  CHECK(c.server.limits.shutdown_grace == 30s);
  CHECK(c.server.limits.upstream_idle_per_replica == 64);
  CHECK(c.name_space == "default");
  CHECK(c.base_function_url == "http://{pod_ip}:{pod_port}");
  CHECK(c.base_function_pod_url == "http://{pod_ip}:{pod_port}");
  CHECK(c.base_slimdata_url == "http://{pod_name}.{service_name}.{namespace}.svc:3262");
  CHECK(c.orchestrator == "Kubernetes");
  CHECK(c.mock_kubernetes_functions.empty());
  CHECK(c.hostname == "slimfaas-1");
  CHECK(c.slimdata_directory.empty());
  CHECK_FALSE(c.allow_cold_start);
  CHECK_FALSE(c.pod_scaled_up_by_default);
  CHECK(c.queues_delay_ms == 10);
  CHECK(c.replicas_sync_delay_ms == 3000);
  CHECK(c.scale_replicas_delay_ms == 1000);
  CHECK(c.max_waiting_per_function == 1000);
  CHECK(c.actor_threads == 0);
  CHECK(c.log_level == "info");
  CHECK(c.huge_page_code);
  CHECK(c.async_max_queue_items == 1'000'000);
  CHECK(c.async_max_queue_bytes == 512ull << 20);
}

TEST_CASE("load_config: unrelated environment variables are ignored", "[config]") {
  NodeConfig c = load_config({}, {{"PATH", "/usr/bin"}, {"HOME", "/root"}, {"SLIMFAAS_SOMETHING_ELSE", "x"},
                                  {"slimfaas__ports__0", "1"}});
  CHECK(c.server.ports == Ports{5000});
}

TEST_CASE("load_config: seed-era environment names", "[config]") {
  const std::string mock = R"({"Functions":[{"Name":"fibonacci1"}]})";
  NodeConfig c = load_config({}, {
                                     {"SLIMFAAS_PORTS", "5000,5001"},
                                     {"NAMESPACE", "functions"},
                                     {"BASE_FUNCTION_URL", "http://{function_name}:8080"},
                                     {"MOCK_KUBERNETES_FUNCTIONS", mock},
                                     {"HOSTNAME", "slimfaas-7"},
                                     {"SLIMFAAS_CORS_ALLOW_ORIGIN", "https://app.example"},
                                     {"SLIMDATA_DIRECTORY", "/data/slim"},
                                     {"SLIMDATA_ALLOW_COLD_START", "true"},
                                 });
  CHECK(c.server.ports == Ports{5000, 5001});
  CHECK(c.name_space == "functions");
  CHECK(c.base_function_url == "http://{function_name}:8080");
  CHECK(c.mock_kubernetes_functions == mock);
  CHECK(c.hostname == "slimfaas-7");
  CHECK(c.server.cors_allow_origin == "https://app.example");
  CHECK(c.slimdata_directory == "/data/slim");
  CHECK(c.allow_cold_start);
}

TEST_CASE("load_config: current environment names", "[config]") {
  const std::string mock = R"({"Functions":[]})";
  NodeConfig c = load_config({}, {
                                     {"SlimFaas__Ports__0", "6000"},
                                     {"SlimFaas__Ports__1", "6001"},
                                     {"SlimFaas__Namespace", "prod"},
                                     {"SlimFaas__BaseFunctionUrl", "http://{function_name}.prod:8080"},
                                     {"SlimFaas__BaseFunctionPodUrl", "http://{pod_ip}:9000"},
                                     {"SlimFaas__BaseSlimDataUrl", "http://{pod_name}:3262"},
                                     {"SlimFaas__Orchestrator", "Docker"},
                                     {"SlimFaas__MockKubernetesFunctions", mock},
                                     {"SlimFaas__Hostname", "node-b"},
                                     {"SlimFaas__CorsAllowOrigin", "https://x.example"},
                                     {"SlimFaas__ListenAddress", "127.0.0.1"},
                                     {"SlimData__Directory", "/var/slimdata"},
                                     {"SlimData__AllowColdStart", "yes"},
                                     {"SlimFaas__PodScaledUpByDefaultWhenInfrastructureHasNeverCalled", "1"},
                                     {"Workers__QueuesDelayMilliseconds", "25"},
                                     {"Workers__ReplicasSynchronizationDelayMilliseconds", "500"},
                                     {"Workers__ScaleReplicasDelayMilliseconds", "2000"},
                                     {"SlimFaas__IoThreads", "3"},
                                     {"SlimFaas__ActorThreads", "2"},
                                     {"SlimFaas__MaxRequestHeaderBytes", "8192"},
                                     {"SlimFaas__MaxRequestBodyBytes", "1000"},
                                     {"SlimFaas__MaxApiBodyBytes", "0"},
                                     {"SlimFaas__MaxConnections", "5"},
                                     {"SlimFaas__IdleTimeoutSeconds", "7"},
                                     {"SlimFaas__ReadTimeoutSeconds", "8"},
                                     {"SlimFaas__ShutdownGraceSeconds", "9"},
                                     {"SlimFaas__MaxWaitingRequestsPerFunction", "0"},
                                     {"SlimFaas__UpstreamIdleConnectionsPerReplica", "4"},
                                     {"SlimFaas__LogLevel", "warn"},
                                     {"SlimFaas__HugePageCode", "false"},
                                     {"SlimFaas__AsyncMaxQueueItems", "0"},
                                     {"SlimFaas__AsyncMaxQueueBytes", "1048576"},
                                 });
  CHECK(c.server.ports == Ports{6000, 6001});
  CHECK(c.name_space == "prod");
  CHECK(c.base_function_url == "http://{function_name}.prod:8080");
  CHECK(c.base_function_pod_url == "http://{pod_ip}:9000");
  CHECK(c.base_slimdata_url == "http://{pod_name}:3262");
  CHECK(c.orchestrator == "Docker");
  CHECK(c.mock_kubernetes_functions == mock);
  CHECK(c.hostname == "node-b");
  CHECK(c.server.cors_allow_origin == "https://x.example");
  CHECK(c.server.address == "127.0.0.1");
  CHECK(c.slimdata_directory == "/var/slimdata");
  CHECK(c.allow_cold_start);
  CHECK(c.pod_scaled_up_by_default);
  CHECK(c.queues_delay_ms == 25);
  CHECK(c.replicas_sync_delay_ms == 500);
  CHECK(c.scale_replicas_delay_ms == 2000);
  CHECK(c.server.io_threads == 3);
  CHECK(c.actor_threads == 2);
  CHECK(c.server.limits.max_header_bytes == 8192);
  CHECK(c.server.limits.max_body_bytes == 1000);
  CHECK(c.server.limits.max_api_body_bytes == 0);
  CHECK(c.server.limits.max_connections == 5);
  CHECK(c.server.limits.idle_timeout == 7s);
  CHECK(c.server.limits.read_timeout == 8s);
  CHECK(c.server.limits.shutdown_grace == 9s);
  CHECK(c.max_waiting_per_function == 0);
  CHECK(c.server.limits.upstream_idle_per_replica == 4);
  CHECK(c.log_level == "warn");
  CHECK_FALSE(c.huge_page_code);
  CHECK(c.async_max_queue_items == 0);
  CHECK(c.async_max_queue_bytes == 1048576);
}

TEST_CASE("load_config: SlimFaas__Ports__N form one list - in index order", "[config]") {
  NodeConfig c = load_config({}, {{"SlimFaas__Ports__2", "6002"}, {"SlimFaas__Ports__0", "6000"}, {"SlimFaas__Ports__1", "6001"}});
  CHECK(c.server.ports == Ports{6000, 6001, 6002});
  CHECK(load_config({}, {{"SlimFaas__Ports__0", "6000"}}).server.ports == Ports{6000});
}

TEST_CASE("load_config: ports lists tolerate spaces and empty items", "[config]") {
  CHECK(load_config({}, {{"SLIMFAAS_PORTS", " 5000 , 5001,,"}}).server.ports == Ports{5000, 5001});
  CHECK(load_config({"--ports", "1,65535"}, {}).server.ports == Ports{1, 65535});
}

TEST_CASE("load_config: the current name wins over the seed-era one", "[config]") {
  NodeConfig c = load_config({}, {
                                     {"SlimFaas__Ports__0", "6000"},
                                     {"SLIMFAAS_PORTS", "5000,5001"},
                                     {"SlimFaas__Namespace", "current"},
                                     {"NAMESPACE", "seed"},
                                     {"SlimFaas__BaseFunctionUrl", "http://current:1"},
                                     {"BASE_FUNCTION_URL", "http://seed:1"},
                                     {"SlimFaas__MockKubernetesFunctions", "current"},
                                     {"MOCK_KUBERNETES_FUNCTIONS", "seed"},
                                     {"SlimFaas__Hostname", "current"},
                                     {"HOSTNAME", "seed"},
                                     {"SlimFaas__CorsAllowOrigin", "current"},
                                     {"SLIMFAAS_CORS_ALLOW_ORIGIN", "seed"},
                                     {"SlimData__Directory", "current"},
                                     {"SLIMDATA_DIRECTORY", "seed"},
                                     {"SlimData__AllowColdStart", "false"},
                                     {"SLIMDATA_ALLOW_COLD_START", "true"},
                                 });
  CHECK(c.server.ports == Ports{6000});
  CHECK(c.name_space == "current");
  CHECK(c.base_function_url == "http://current:1");
  CHECK(c.mock_kubernetes_functions == "current");
  CHECK(c.hostname == "current");
  CHECK(c.server.cors_allow_origin == "current");
  CHECK(c.slimdata_directory == "current");
  CHECK_FALSE(c.allow_cold_start);
}

TEST_CASE("load_config: a malformed seed-era value is not read when the current name is set", "[config]") {
  NodeConfig c = load_config({}, {{"SlimData__AllowColdStart", "true"}, {"SLIMDATA_ALLOW_COLD_START", "maybe"}});
  CHECK(c.allow_cold_start);
}

TEST_CASE("load_config: flags win over the environment", "[config]") {
  const Environment env{
      {"SlimFaas__Ports__0", "6000"}, {"SlimFaas__Ports__1", "6001"}, {"SLIMFAAS_PORTS", "5000"},
      {"SlimFaas__LogLevel", "error"}, {"SlimFaas__Namespace", "env-ns"}, {"HOSTNAME", "env-host"},
  };
  NodeConfig c = load_config({"--ports", "7000", "--log-level=debug", "--namespace", "flag-ns", "--hostname=flag-host"}, env);
  CHECK(c.server.ports == Ports{7000});
  CHECK(c.log_level == "debug");
  CHECK(c.name_space == "flag-ns");
  CHECK(c.hostname == "flag-host");
}

TEST_CASE("load_config: flag forms", "[config]") {
  SECTION("--name value and --name=value") {
    NodeConfig c = load_config({"--io-threads", "2", "--actor-threads=3"}, {});
    CHECK(c.server.io_threads == 2);
    CHECK(c.actor_threads == 3);
  }
  SECTION("a value holding '='") {
    NodeConfig c = load_config({"--base-function-url=http://{function_name}:8080/?a=b"}, {});
    CHECK(c.base_function_url == "http://{function_name}:8080/?a=b");
  }
  SECTION("the last of a repeated flag wins") {
    CHECK(load_config({"--log-level", "debug", "--log-level", "trace"}, {}).log_level == "trace");
  }
  SECTION("an empty value via =") {
    NodeConfig c = load_config({"--slimdata-directory="}, {{"SLIMDATA_DIRECTORY", "/env"}});
    CHECK(c.slimdata_directory.empty());
  }
  SECTION("booleans") {
    for (const char* v : {"true", "TRUE", "1", "yes", "Yes"}) {
      INFO("value " << v);
      CHECK(load_config({"--slimdata-allow-cold-start", v}, {}).allow_cold_start);
    }
    for (const char* v : {"false", "False", "0", "no"}) {
      INFO("value " << v);
      CHECK_FALSE(load_config({"--slimdata-allow-cold-start", v}, {{"SLIMDATA_ALLOW_COLD_START", "true"}}).allow_cold_start);
    }
  }
  SECTION("every log level") {
    for (const char* v : {"trace", "debug", "info", "warn", "error", "off"}) {
      INFO("level " << v);
      CHECK(load_config({std::string("--log-level=") + v}, {}).log_level == v);
    }
  }
}

TEST_CASE("load_config: errors name the setting", "[config]") {
  SECTION("unknown flag") { check_error({"--no-such-setting", "1"}, {}, {"--no-such-setting", "unknown"}); }
  SECTION("unknown flag with =") { check_error({"--portz=5000"}, {}, {"--portz"}); }
  SECTION("flag without a value") { check_error({"--ports"}, {}, {"--ports", "missing value"}); }
  SECTION("not a flag") { check_error({"serve"}, {}, {"serve"}); }
  SECTION("unknown SlimFaas__ variable") { check_error({}, {{"SlimFaas__Foo", "1"}}, {"SlimFaas__Foo", "unknown"}); }
  SECTION("unknown SlimData__ and Workers__ variables") {
    check_error({}, {{"SlimData__Nope", "1"}}, {"SlimData__Nope"});
    check_error({}, {{"Workers__Nope", "1"}}, {"Workers__Nope"});
  }
  SECTION("malformed integer from the environment") {
    check_error({}, {{"SlimFaas__IoThreads", "two"}}, {"SlimFaas__IoThreads", "io-threads", "two"});
    check_error({}, {{"SLIM_WORKER_DELAY_MILLISECONDS", "10ms"}}, {"SLIM_WORKER_DELAY_MILLISECONDS"});
    check_error({}, {{"SlimFaas__IdleTimeoutSeconds", "1.5"}}, {"SlimFaas__IdleTimeoutSeconds"});
    check_error({}, {{"SlimFaas__MaxConnections", ""}}, {"SlimFaas__MaxConnections"});
  }
  SECTION("malformed integer from a flag") {
    check_error({"--max-connections", "lots"}, {}, {"--max-connections", "lots"});
  }
  SECTION("out-of-range port") {
    check_error({}, {{"SLIMFAAS_PORTS", "5000,70000"}}, {"SLIMFAAS_PORTS", "70000"});
    check_error({}, {{"SlimFaas__Ports__0", "0"}}, {"SlimFaas__Ports__0"});
    check_error({"--ports", "65536"}, {}, {"--ports", "65536"});
    check_error({"--ports", "-1"}, {}, {"--ports"});
  }
  SECTION("a bad extra port names its variable") {
    check_error({}, {{"SlimFaas__Ports__0", "6000"}, {"SlimFaas__Ports__1", "x"}}, {"SlimFaas__Ports__1"});
  }
  SECTION("no port at all") { check_error({"--ports="}, {}, {"--ports"}); }
  SECTION("out-of-range integers") {
    check_error({}, {{"SlimFaas__IoThreads", "257"}}, {"SlimFaas__IoThreads", "257"});
    check_error({}, {{"SlimFaas__IdleTimeoutSeconds", "0"}}, {"SlimFaas__IdleTimeoutSeconds"});
    check_error({}, {{"SlimFaas__MaxRequestHeaderBytes", "100"}}, {"SlimFaas__MaxRequestHeaderBytes"});
    check_error({}, {{"SlimFaas__MaxRequestBodyBytes", "-1"}}, {"SlimFaas__MaxRequestBodyBytes"});
    check_error({}, {{"SlimFaas__MaxRequestBodyBytes", "99999999999999999999"}}, {"SlimFaas__MaxRequestBodyBytes"});
  }
  SECTION("bad bool") {
    check_error({}, {{"SLIMDATA_ALLOW_COLD_START", "maybe"}}, {"SLIMDATA_ALLOW_COLD_START", "maybe"});
    check_error({"--slimdata-allow-cold-start=2"}, {}, {"--slimdata-allow-cold-start"});
  }
  SECTION("bad log level") {
    check_error({"--log-level=loud"}, {}, {"--log-level", "loud"});
    check_error({}, {{"SlimFaas__LogLevel", "DEBUG"}}, {"SlimFaas__LogLevel"});
  }
  SECTION("bad orchestrator") { check_error({}, {{"SlimFaas__Orchestrator", "Nomad"}}, {"SlimFaas__Orchestrator", "Nomad"}); }
  SECTION("a bad flag is reported even when the environment is fine") {
    check_error({"--io-threads", "x"}, {{"SlimFaas__IoThreads", "2"}}, {"--io-threads"});
  }
}

TEST_CASE("load_config: ConfigError is a runtime_error", "[config]") {
  CHECK_THROWS_AS(load_config({"--bogus", "1"}, {}), std::runtime_error);
}

TEST_CASE("settings_help mentions every flag and environment name", "[config]") {
  const std::string help = settings_help();
  const char* flags[] = {
      "--ports", "--listen-address", "--namespace", "--base-function-url", "--base-function-pod-url",
      "--base-slimdata-url", "--orchestrator", "--mock-kubernetes-functions", "--hostname", "--cors-allow-origin",
      "--slimdata-directory", "--slimdata-allow-cold-start",
      "--pod-scaled-up-by-default-when-infrastructure-has-never-called", "--queues-delay-ms",
      "--replicas-synchronization-delay-ms", "--scale-replicas-delay-ms", "--io-threads", "--actor-threads",
      "--max-request-header-bytes", "--max-request-body-bytes", "--max-api-body-bytes", "--max-connections",
      "--idle-timeout-seconds", "--read-timeout-seconds", "--shutdown-grace-seconds",
      "--max-waiting-requests-per-function", "--upstream-idle-connections", "--log-level",
      "--huge-page-code",
  };
  const char* env_names[] = {
      "SlimFaas__Ports__0", "SLIMFAAS_PORTS", "SlimFaas__ListenAddress", "SlimFaas__Namespace", "NAMESPACE",
      "SlimFaas__BaseFunctionUrl", "BASE_FUNCTION_URL", "SlimFaas__BaseFunctionPodUrl", "BASE_FUNCTION_POD_URL",
      "SlimFaas__BaseSlimDataUrl", "BASE_SLIMDATA_URL", "SlimFaas__Orchestrator", "SLIMFAAS_ORCHESTRATOR",
      "SlimFaas__MockKubernetesFunctions", "MOCK_KUBERNETES_FUNCTIONS", "SlimFaas__Hostname", "HOSTNAME",
      "SlimFaas__CorsAllowOrigin", "SLIMFAAS_CORS_ALLOW_ORIGIN", "SlimData__Directory", "SLIMDATA_DIRECTORY",
      "SlimData__AllowColdStart", "SLIMDATA_ALLOW_COLD_START",
      "SlimFaas__PodScaledUpByDefaultWhenInfrastructureHasNeverCalled",
      "POD_SCALED_UP_BY_DEFAULT_WHEN_INFRASTRUCTURE_HAS_NEVER_CALLED", "Workers__QueuesDelayMilliseconds",
      "SLIM_WORKER_DELAY_MILLISECONDS", "Workers__ReplicasSynchronizationDelayMilliseconds",
      "REPLICAS_SYNCHRONISATION_WORKER_DELAY_MILLISECONDS", "Workers__ScaleReplicasDelayMilliseconds",
      "SCALE_REPLICAS_WORKER_DELAY_MILLISECONDS", "SlimFaas__IoThreads", "SlimFaas__ActorThreads",
      "SlimFaas__MaxRequestHeaderBytes", "SlimFaas__MaxRequestBodyBytes", "SlimFaas__MaxApiBodyBytes",
      "SlimFaas__MaxConnections", "SlimFaas__IdleTimeoutSeconds", "SlimFaas__ReadTimeoutSeconds",
      "SlimFaas__ShutdownGraceSeconds", "SlimFaas__MaxWaitingRequestsPerFunction",
      "SlimFaas__UpstreamIdleConnectionsPerReplica", "SlimFaas__LogLevel",
      "SlimFaas__HugePageCode",
  };
  for (const char* f : flags) {
    INFO("flag " << f);
    CHECK(help.find(std::string(f) + "\n") != std::string::npos);
  }
  for (const char* e : env_names) {
    INFO("env " << e);
    CHECK(help.find(e) != std::string::npos);
  }
  CHECK(help.find("default: 5000") != std::string::npos);
}

TEST_CASE("settings_help lists only settings that load_config accepts", "[config]") {
  // Every "--flag" line of the help is a known flag, and every environment
  // name it lists is a known variable: neither is refused as unknown.
  std::istringstream in(settings_help());
  std::string line;
  int flags_seen = 0;
  int env_seen = 0;
  bool expect_env = false;
  while (std::getline(in, line)) {
    auto start = line.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    std::string text = line.substr(start);
    if (text.rfind("--", 0) == 0) {
      ++flags_seen;
      expect_env = true;
      INFO("flag " << text);
      try {
        load_config({text, "1"}, {});
      } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).find("unknown setting") == std::string::npos);
      }
    } else if (expect_env) {
      expect_env = false;
      std::istringstream names(text);
      std::string name;
      while (std::getline(names, name, ',')) {
        name.erase(0, name.find_first_not_of(' '));
        ++env_seen;
        INFO("env " << name);
        try {
          load_config({}, {{name, "1"}});
        } catch (const ConfigError& e) {
          CHECK(std::string(e.what()).find("unknown setting") == std::string::npos);
        }
      }
    }
  }
  CHECK(flags_seen == 49);
  CHECK(env_seen == 64);
}

TEST_CASE("load_config: SlimData peers and settings", "[config]") {
  NodeConfig off = load_config({}, {});
  CHECK_FALSE(off.slimdata_enabled());

  NodeConfig c = load_config({"--slimdata-node-id", "2"},
                             {{"SlimData__Peers", "10.0.0.1:3262,node-b.svc:3263,[::1]:3264"},
                              {"SlimData__Secret", "s"},
                              {"SlimData__TickMilliseconds", "20"},
                              {"SlimData__Sync", "false"}});
  CHECK(c.slimdata_enabled());
  CHECK(c.slimdata_peers == std::vector<std::string>{"10.0.0.1:3262", "node-b.svc:3263", "[::1]:3264"});
  CHECK(c.slimdata_node_id == 2);
  CHECK(c.slimdata_secret == "s");
  CHECK(c.slimdata_tick_ms == 20);
  CHECK_FALSE(c.slimdata_sync);

  NodeConfig lone = load_config({"--slimdata-allow-cold-start", "true"}, {});
  CHECK(lone.slimdata_enabled());
  CHECK(lone.slimdata_port == 3262);

  CHECK_THROWS_WITH(load_config({"--slimdata-peers", "a:1,b"}, {}), Catch::Contains("'b' is not host:port"));
  CHECK_THROWS_WITH(load_config({"--slimdata-peers", "a:1,b:0"}, {}), Catch::Contains("slimdata-peers"));
  CHECK_THROWS_WITH(load_config({"--slimdata-peers", "a:1,,b:2"}, {}), Catch::Contains("is not host:port"));
}

TEST_CASE("the log's memory: snapshot log bytes and the memtable are settings", "[config]") {
  const NodeConfig defaults = load_config({}, {});
  CHECK(defaults.slimdata_snapshot_log_bytes == 16u << 20);
  CHECK(defaults.slimdata_write_buffer_bytes == 16u << 20);
  CHECK(load_config({"--slimdata-snapshot-log-bytes", "65536"}, {}).slimdata_snapshot_log_bytes == 64u << 10);
  CHECK(load_config({}, {{"SlimData__SnapshotLogBytes", "1073741824"}}).slimdata_snapshot_log_bytes == 1u << 30);
  CHECK(load_config({"--slimdata-write-buffer-bytes", "67108864"}, {}).slimdata_write_buffer_bytes == 64u << 20);
  CHECK(load_config({}, {{"SlimData__WriteBufferBytes", "65536"}}).slimdata_write_buffer_bytes == 64u << 10);
  // Below RocksDB's smallest memtable, or past a GiB: refused, named.
  CHECK_THROWS_WITH(load_config({"--slimdata-write-buffer-bytes", "65535"}, {}),
                    Catch::Contains("slimdata-write-buffer-bytes") && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(load_config({}, {{"SlimData__SnapshotLogBytes", "1073741825"}}),
                    Catch::Contains("slimdata-snapshot-log-bytes") && Catch::Contains("out of range"));
}
