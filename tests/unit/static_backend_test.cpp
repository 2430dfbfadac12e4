#include "k8s/static_backend.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace slimfaas::k8s;

namespace {

const std::string contract_json =
    R"({"Functions":[{"Name":"fibonacci1","NumberParallelRequest":1}],"Slimfaas":[{"Name":"slimfaas-1"}]})";

// Builds a backend expecting std::invalid_argument whose message holds `needle`.
void check_rejected(const std::string& json, const std::string& needle,
                    const std::string& base = "http://{function_name}:8080") {
  INFO("json: " << json);
  try {
    StaticBackend backend(json, base, "default");
    FAIL("accepted; expected an error naming " << needle);
  } catch (const std::invalid_argument& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("StaticBackend: the contract's MOCK_KUBERNETES_FUNCTIONS with a name template", "[static_backend]") {
  StaticBackend backend(contract_json, "http://{function_name}:8080", "default");
  CHECK(std::string(backend.kind()) == "static");
  auto fns = backend.functions();
  REQUIRE(fns.size() == 1);
  const auto& fn = fns[0];
  CHECK(fn.name == "fibonacci1");
  CHECK(fn.pod_type == "Deployment");
  REQUIRE(fn.replicas.size() == 1);
  CHECK(fn.replicas[0].name == "fibonacci1-0");
  CHECK(fn.replicas[0].host == "fibonacci1");
  CHECK(fn.replicas[0].port == 8080);
  CHECK(fn.replicas[0].ready);
  CHECK(fn.annotations.at("SlimFaas/Function") == "true");
  CHECK(fn.annotations.at("SlimFaas/NumberParallelRequest") == "1");
  CHECK(fn.config.parallel == 1);
  CHECK(fn.config.problems.empty());
  // scale() is a no-op for fixed addresses.
  backend.scale("fibonacci1", 5);
  CHECK(backend.functions().at(0).replicas.size() == 1);
}

TEST_CASE("StaticBackend: BASE_FUNCTION_URL placeholders", "[static_backend]") {
  SECTION("{pod_ip}:{pod_port} (SlimFaas's default) becomes <name>:8080") {
    StaticBackend backend(contract_json, "http://{pod_ip}:{pod_port}", "default");
    const Replica r = backend.functions().at(0).replicas.at(0);
    CHECK(r.host == "fibonacci1");
    CHECK(r.port == 8080);
  }
  SECTION("{namespace} and a placeholder used twice") {
    StaticBackend backend(R"({"Functions":[{"Name":"fn"}]})", "http://{function_name}.{namespace}.{function_name}:9000",
                          "prod");
    const Replica r = backend.functions().at(0).replicas.at(0);
    CHECK(r.host == "fn.prod.fn");
    CHECK(r.port == 9000);
  }
  SECTION("{pod_name}") {
    StaticBackend backend(R"({"Functions":[{"Name":"fn"}]})", "http://{pod_name}", "default");
    const Replica r = backend.functions().at(0).replicas.at(0);
    CHECK(r.host == "fn");
    CHECK(r.port == 80);
  }
  SECTION("a template that yields a bad URL names the function's Urls entry") {
    check_rejected(R"({"Functions":[{"Name":"fn"}]})", "Functions[0].Urls[0]", "https://{function_name}:8080");
  }
}

TEST_CASE("StaticBackend: Urls give several replicas", "[static_backend]") {
  StaticBackend backend(
      R"({"Functions":[{"Name":"echo","Urls":["http://127.0.0.1:9001","http://127.0.0.1:9002/","http://localhost"]}]})",
      "http://{function_name}:8080", "default");
  auto fns = backend.functions();
  REQUIRE(fns.size() == 1);
  const auto& replicas = fns[0].replicas;
  REQUIRE(replicas.size() == 3);
  CHECK(replicas[0].name == "echo-0");
  CHECK(replicas[0].host == "127.0.0.1");
  CHECK(replicas[0].port == 9001);
  CHECK(replicas[1].name == "echo-1");
  CHECK(replicas[1].port == 9002);
  CHECK(replicas[2].name == "echo-2");
  CHECK(replicas[2].host == "localhost");
  CHECK(replicas[2].port == 80);
  for (const auto& r : replicas) CHECK(r.ready);
}

TEST_CASE("StaticBackend: several functions keep their order", "[static_backend]") {
  StaticBackend backend(R"({"Functions":[{"Name":"b"},{"Name":"a"},{"Name":"c","Urls":["http://x:1"]}]})",
                        "http://{function_name}:8080", "default");
  auto fns = backend.functions();
  REQUIRE(fns.size() == 3);
  CHECK(fns[0].name == "b");
  CHECK(fns[1].name == "a");
  CHECK(fns[2].name == "c");
  CHECK(fns[2].replicas.at(0).host == "x");
  CHECK(fns[2].replicas.at(0).port == 1);
}

TEST_CASE("StaticBackend: an empty Functions list is fine", "[static_backend]") {
  StaticBackend backend(R"({"Functions":[]})", "http://{function_name}:8080", "default");
  CHECK(backend.functions().empty());
}

TEST_CASE("StaticBackend: Annotations object", "[static_backend]") {
  StaticBackend backend(R"({"Functions":[{"Name":"fn","Annotations":{
        "SlimFaas/ReplicasMin":"2",
        "SlimFaas/NumberParallelRequestPerPod":3,
        "SlimFaas/DefaultVisibility":"Private",
        "SlimFaas/DependsOn":"db, cache",
        "custom/label":"v"}}]})",
                        "http://{function_name}:8080", "default");
  const FunctionDefinition fn = backend.functions().at(0);
  CHECK(fn.annotations.at("SlimFaas/ReplicasMin") == "2");
  CHECK(fn.annotations.at("SlimFaas/NumberParallelRequestPerPod") == "3");  // numbers become text
  CHECK(fn.annotations.at("custom/label") == "v");
  CHECK(fn.annotations.at("SlimFaas/Function") == "true");
  CHECK(fn.config.replicas_min == 2);
  CHECK(fn.config.parallel_per_pod == 3);
  CHECK(fn.config.default_visibility == Visibility::Private);
  CHECK(fn.config.depends_on == std::vector<std::string>{"db", "cache"});
  CHECK(fn.config.problems.empty());
}

TEST_CASE("StaticBackend: shorthand fields become annotations", "[static_backend]") {
  StaticBackend backend(R"({"Functions":[{"Name":"fn",
        "NumberParallelRequest":4,
        "NumberParallelRequestPerPod":"2",
        "ReplicasMin":1,
        "ReplicasAtStart":3,
        "TimeoutSecondBeforeSetReplicasMin":30}]})",
                        "http://{function_name}:8080", "default");
  const FunctionDefinition fn = backend.functions().at(0);
  CHECK(fn.annotations.at("SlimFaas/NumberParallelRequest") == "4");
  CHECK(fn.annotations.at("SlimFaas/NumberParallelRequestPerPod") == "2");
  CHECK(fn.annotations.at("SlimFaas/ReplicasMin") == "1");
  CHECK(fn.annotations.at("SlimFaas/ReplicasAtStart") == "3");
  CHECK(fn.annotations.at("SlimFaas/TimeoutSecondBeforeSetReplicasMin") == "30");
  CHECK(fn.config.parallel == 4);
  CHECK(fn.config.parallel_per_pod == 2);
  CHECK(fn.config.replicas_min == 1);
  CHECK(fn.config.replicas_at_start == 3);
  CHECK(fn.config.timeout_seconds_before_min == 30);
  CHECK(fn.config.problems.empty());
}

TEST_CASE("StaticBackend: Annotations win over shorthand fields", "[static_backend]") {
  StaticBackend backend(
      R"({"Functions":[{"Name":"fn","NumberParallelRequest":4,"Annotations":{"SlimFaas/NumberParallelRequest":"6"}}]})",
      "http://{function_name}:8080", "default");
  CHECK(backend.functions().at(0).config.parallel == 6);
}

TEST_CASE("StaticBackend: a bad annotation value is a problem - not an error", "[static_backend]") {
  StaticBackend backend(R"({"Functions":[{"Name":"fn","NumberParallelRequest":0}]})", "http://{function_name}:8080",
                        "default");
  const FunctionDefinition fn = backend.functions().at(0);
  CHECK(fn.config.parallel == 10);
  REQUIRE(fn.config.problems.size() == 1);
  CHECK(fn.config.problems[0].find("SlimFaas/NumberParallelRequest") != std::string::npos);
}

TEST_CASE("StaticBackend: errors name the field", "[static_backend]") {
  SECTION("not JSON") { check_rejected("{not json", "JSON"); }
  SECTION("not an object") { check_rejected("[]", "JSON"); }
  SECTION("empty text") { check_rejected("", "JSON"); }
  SECTION("no Functions") { check_rejected(R"({"Slimfaas":[]})", "Functions"); }
  SECTION("Functions not an array") { check_rejected(R"({"Functions":{"Name":"fn"}})", "Functions"); }
  SECTION("entry not an object") { check_rejected(R"({"Functions":["fn"]})", "Functions[0]"); }
  SECTION("missing Name") { check_rejected(R"({"Functions":[{"Name":"ok"},{"Urls":["http://a:1"]}]})", "Functions[1].Name"); }
  SECTION("empty Name") { check_rejected(R"({"Functions":[{"Name":""}]})", "Functions[0].Name"); }
  SECTION("Name not a string") { check_rejected(R"({"Functions":[{"Name":5}]})", "Functions[0].Name"); }
  SECTION("duplicate names") {
    check_rejected(R"({"Functions":[{"Name":"fn"},{"Name":"other"},{"Name":"fn"}]})", "duplicate function 'fn'");
    check_rejected(R"({"Functions":[{"Name":"fn"},{"Name":"other"},{"Name":"fn"}]})", "Functions[2]");
  }
  SECTION("Annotations not an object") {
    check_rejected(R"({"Functions":[{"Name":"fn","Annotations":["a"]}]})", "Functions[0].Annotations");
  }
  SECTION("Urls not an array") {
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":"http://a:1"}]})", "Functions[0].Urls");
  }
  SECTION("Urls empty") { check_rejected(R"({"Functions":[{"Name":"fn","Urls":[]}]})", "Functions[0].Urls"); }
  SECTION("Urls not strings") {
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":["http://a:1", 5]}]})", "Functions[0].Urls");
  }
  SECTION("https URL") {
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":["https://a:1"]}]})", "Functions[0].Urls[0]");
  }
  SECTION("bad port") {
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":["http://a:1","http://a:70000"]}]})", "Functions[0].Urls[1]");
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":["http://a:1","http://a:70000"]}]})", "port");
  }
  SECTION("URL with a path") {
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":["http://a:1/api"]}]})", "Functions[0].Urls[0]");
    check_rejected(R"({"Functions":[{"Name":"fn","Urls":["http://a:1/api"]}]})", "path");
  }
}

TEST_CASE("parse_http_url: accepted forms", "[static_backend][url]") {
  struct Case {
    const char* url;
    const char* host;
    std::uint16_t port;
  };
  const Case cases[] = {
      {"http://host", "host", 80},
      {"http://host/", "host", 80},
      {"http://host//", "host", 80},
      {"http://host:8080", "host", 8080},
      {"http://host:8080/", "host", 8080},
      {"http://10.0.0.5:1", "10.0.0.5", 1},
      {"http://a.b.svc.cluster.local:65535", "a.b.svc.cluster.local", 65535},
  };
  for (const auto& k : cases) {
    INFO("url " << k.url);
    Endpoint e = parse_http_url(k.url);
    CHECK(e.host == k.host);
    CHECK(e.port == k.port);
  }
}

TEST_CASE("parse_http_url: refused forms", "[static_backend][url]") {
  for (const char* url : {"", "host:8080", "https://host", "ftp://host", "http:/host", "http://", "http://:8080",
                          "http:///", "http://host:", "http://host:0", "http://host:65536", "http://host:99999999999",
                          "http://host:-1", "http://host:80a", "http://host:+80", "http://host/path",
                          "http://host:8080/path", "http://host/a/b"}) {
    INFO("url '" << url << "'");
    CHECK_THROWS_AS(parse_http_url(url), std::invalid_argument);
  }
  // The message quotes the URL.
  CHECK_THROWS_WITH(parse_http_url("https://host"), Catch::Contains("https://host"));
  CHECK_THROWS_WITH(parse_http_url("http://host:0"), Catch::Contains("port"));
  CHECK_THROWS_WITH(parse_http_url("http://host/x"), Catch::Contains("path"));
  CHECK_THROWS_WITH(parse_http_url("http://:1"), Catch::Contains("host"));
}

// "http://[::1]:8080": the port after a bracketed IPv6 literal is the port,
// not part of the host.
TEST_CASE("parse_http_url: bracketed IPv6 literal with a port", "[static_backend][url]") {
  Endpoint e = parse_http_url("http://[::1]:8080");
  CHECK(e.port == 8080);
  CHECK(e.host.find("8080") == std::string::npos);
}

TEST_CASE("parse_http_url: bracketed IPv6 literal without a port", "[static_backend][url]") {
  Endpoint e = parse_http_url("http://[::1]");
  CHECK(e.port == 80);
  CHECK(e.host.find("::1") != std::string::npos);
}
