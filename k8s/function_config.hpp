#pragma once
// What a workload's SlimFaas/* annotations mean, with the contract's
// defaults. Parsing never fails: a bad value falls back to its default and
// leaves a problem that logs and /status-function show.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace slimfaas::k8s {

using Annotations = std::map<std::string, std::string>;

enum class Visibility { Public, Private };
enum class Trust { Trusted, Untrusted };

struct RetryPolicy {
  int http_timeout_seconds = 120;
  std::vector<int> timeout_retries{2, 4, 8};  // delays before attempt 2, 3, ...
  std::vector<int> http_status_retries{500, 502, 503};
};

struct CallConfiguration {
  int sync_http_timeout_seconds = 120;
  RetryPolicy async;
  RetryPolicy publish;
};

struct PathVisibility {
  std::string prefix;
  Visibility visibility = Visibility::Public;
};

struct FunctionConfig {
  int replicas_min = 0;
  int replicas_at_start = 1;
  int timeout_seconds_before_min = 300;
  int parallel = 10;
  int parallel_per_pod = 10;
  bool start_when_any_function_called = false;
  std::vector<std::string> depends_on;
  std::vector<std::string> subscribe_events;
  Visibility default_visibility = Visibility::Public;
  std::vector<PathVisibility> paths_visibility;
  Trust default_trust = Trust::Trusted;
  CallConfiguration calls;
  std::string schedule_json;  // raw SlimFaas/Schedule, validated as JSON
  std::string scale_json;     // raw SlimFaas/Scale, validated as JSON
  std::optional<int> replica_max;
  std::vector<std::string> problems;  // "SlimFaas/X: 'value' is not ...; using default N"

  // The contract's ceiling: Scale.ReplicaMax, else max(ReplicasMin, ReplicasAtStart).
  int max_replicas() const;
};

inline constexpr const char* function_annotation = "SlimFaas/Function";

FunctionConfig parse_annotations(const Annotations& annotations);

const char* to_string(Visibility v);
const char* to_string(Trust t);

}  // namespace slimfaas::k8s
