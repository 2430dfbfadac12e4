#include "k8s/function_config.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>

namespace slimfaas::k8s {
namespace {

using nlohmann::json;

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    auto item = trim(std::string_view(value).substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

class Reader {
 public:
  Reader(const Annotations& annotations, FunctionConfig& config) : annotations_(annotations), config_(config) {}

  const std::string* find(const char* name) const {
    auto it = annotations_.find(name);
    return it == annotations_.end() ? nullptr : &it->second;
  }

  void problem(const char* name, const std::string& value, const std::string& why, const std::string& fallback) {
    config_.problems.push_back(std::string(name) + ": '" + value + "' " + why + "; using " + fallback);
  }

  void integer(const char* name, int& target, int min) {
    const std::string* raw = find(name);
    if (!raw) return;
    std::string value = trim(*raw);
    int parsed = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec != std::errc{} || end != value.data() + value.size()) {
      problem(name, *raw, "is not an integer", "default " + std::to_string(target));
    } else if (parsed < min) {
      problem(name, *raw, "must be >= " + std::to_string(min), "default " + std::to_string(target));
    } else {
      target = parsed;
    }
  }

  void boolean(const char* name, bool& target) {
    const std::string* raw = find(name);
    if (!raw) return;
    std::string value = trim(*raw);
    if (iequals(value, "true")) target = true;
    else if (iequals(value, "false")) target = false;
    else problem(name, *raw, "is not true or false", std::string("default ") + (target ? "true" : "false"));
  }

  void list(const char* name, std::vector<std::string>& target) {
    if (const std::string* raw = find(name)) target = split_list(*raw);
  }

  bool visibility(std::string_view text, Visibility& target) {
    if (iequals(text, "Public")) target = Visibility::Public;
    else if (iequals(text, "Private")) target = Visibility::Private;
    else return false;
    return true;
  }

 private:
  const Annotations& annotations_;
  FunctionConfig& config_;
};

// An integer JSON value within [min, INT_MAX]; larger values must not wrap.
std::optional<int> bounded_int(const json& value, int min) {
  if (value.is_number_unsigned()) {
    auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    if (static_cast<std::int64_t>(v) < min) return std::nullopt;
    return static_cast<int>(v);
  }
  if (value.is_number_integer()) {
    auto v = value.get<std::int64_t>();
    if (v < min || v > std::numeric_limits<int>::max()) return std::nullopt;
    return static_cast<int>(v);
  }
  return std::nullopt;
}

void read_retry_policy(const json& section, RetryPolicy& policy, const std::string& where,
                       std::vector<std::string>& problems) {
  if (!section.is_object()) {
    problems.push_back("SlimFaas/Configuration: " + where + " is not an object; using defaults");
    return;
  }
  if (auto it = section.find("HttpTimeout"); it != section.end()) {
    if (auto v = bounded_int(*it, 1)) policy.http_timeout_seconds = *v;
    else problems.push_back("SlimFaas/Configuration: " + where + ".HttpTimeout must be a positive integer; using default");
  }
  auto read_ints = [&](const char* key, std::vector<int>& target) {
    auto it = section.find(key);
    if (it == section.end()) return;
    std::vector<int> values;
    if (it->is_array()) {
      for (const auto& v : *it) {
        auto bounded = bounded_int(v, 0);
        if (!bounded) {
          values.clear();
          problems.push_back("SlimFaas/Configuration: " + where + "." + key + " must hold non-negative integers; using default");
          return;
        }
        values.push_back(*bounded);
      }
      target = values;
    } else {
      problems.push_back("SlimFaas/Configuration: " + where + "." + key + " must be an array; using default");
    }
  };
  read_ints("TimeoutRetries", policy.timeout_retries);
  read_ints("HttpStatusRetries", policy.http_status_retries);
}

void read_configuration(const std::string& raw, CallConfiguration& calls, std::vector<std::string>& problems) {
  json doc = json::parse(raw, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    problems.push_back("SlimFaas/Configuration: not a JSON object; using defaults");
    return;
  }
  if (auto it = doc.find("DefaultSync"); it != doc.end()) {
    RetryPolicy sync;
    sync.http_timeout_seconds = calls.sync_http_timeout_seconds;
    read_retry_policy(*it, sync, "DefaultSync", problems);
    calls.sync_http_timeout_seconds = sync.http_timeout_seconds;
  }
  if (auto it = doc.find("DefaultAsync"); it != doc.end()) read_retry_policy(*it, calls.async, "DefaultAsync", problems);
  if (auto it = doc.find("DefaultPublish"); it != doc.end()) {
    read_retry_policy(*it, calls.publish, "DefaultPublish", problems);
  }
}

}  // namespace

int FunctionConfig::max_replicas() const {
  if (replica_max) return *replica_max;
  return std::max(replicas_min, replicas_at_start);
}

FunctionConfig parse_annotations(const Annotations& annotations) {
  FunctionConfig config;
  Reader reader(annotations, config);
  reader.integer("SlimFaas/ReplicasMin", config.replicas_min, 0);
  reader.integer("SlimFaas/ReplicasAtStart", config.replicas_at_start, 0);
  reader.integer("SlimFaas/TimeoutSecondBeforeSetReplicasMin", config.timeout_seconds_before_min, 0);
  reader.integer("SlimFaas/NumberParallelRequest", config.parallel, 1);
  reader.integer("SlimFaas/NumberParallelRequestPerPod", config.parallel_per_pod, 1);
  reader.boolean("SlimFaas/ReplicasStartAsSoonAsOneFunctionRetrieveARequest", config.start_when_any_function_called);
  reader.list("SlimFaas/DependsOn", config.depends_on);
  reader.list("SlimFaas/SubscribeEvents", config.subscribe_events);

  if (const std::string* raw = reader.find("SlimFaas/DefaultVisibility")) {
    if (!reader.visibility(trim(*raw), config.default_visibility)) {
      reader.problem("SlimFaas/DefaultVisibility", *raw, "is not Public or Private", "default Public");
    }
  }
  if (const std::string* raw = reader.find("SlimFaas/PathsStartWithVisibility")) {
    for (const auto& item : split_list(*raw)) {
      auto colon = item.find(':');
      PathVisibility pv;
      if (colon == std::string::npos || !reader.visibility(trim(item.substr(0, colon)), pv.visibility) ||
          trim(item.substr(colon + 1)).empty()) {
        reader.problem("SlimFaas/PathsStartWithVisibility", item, "is not Public:/path or Private:/path", "nothing for it");
        continue;
      }
      pv.prefix = trim(item.substr(colon + 1));
      config.paths_visibility.push_back(pv);
    }
  }
  if (const std::string* raw = reader.find("SlimFaas/DefaultTrust")) {
    std::string value = trim(*raw);
    if (iequals(value, "Trusted")) config.default_trust = Trust::Trusted;
    else if (iequals(value, "Untrusted")) config.default_trust = Trust::Untrusted;
    else reader.problem("SlimFaas/DefaultTrust", *raw, "is not Trusted or Untrusted", "default Trusted");
  }
  if (const std::string* raw = reader.find("SlimFaas/Configuration")) {
    read_configuration(*raw, config.calls, config.problems);
  }
  if (const std::string* raw = reader.find("SlimFaas/Schedule")) {
    json doc = json::parse(*raw, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) reader.problem("SlimFaas/Schedule", *raw, "is not a JSON object", "no schedule");
    else config.schedule_json = doc.dump();
  }
  if (const std::string* raw = reader.find("SlimFaas/Scale")) {
    json doc = json::parse(*raw, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      reader.problem("SlimFaas/Scale", *raw, "is not a JSON object", "no scale policy");
    } else {
      config.scale_json = doc.dump();
      if (auto it = doc.find("ReplicaMax"); it != doc.end()) {
        if (auto v = bounded_int(*it, 0)) config.replica_max = *v;
        else reader.problem("SlimFaas/Scale", it->dump(), "ReplicaMax must be a non-negative integer", "the default maximum");
      }
    }
  }
  return config;
}

const char* to_string(Visibility v) { return v == Visibility::Public ? "Public" : "Private"; }
const char* to_string(Trust t) { return t == Trust::Trusted ? "Trusted" : "Untrusted"; }

}  // namespace slimfaas::k8s
