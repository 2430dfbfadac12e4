#include "app/local_manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace slimfaas::app {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Small text helpers

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The closest candidate (case-insensitive edit distance), if close enough to
// be a likely typo.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = SIZE_MAX;
  const std::string w = lower(word);
  for (auto candidate : candidates) {
    std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(3, candidate.size() / 3));
    std::size_t d = edit_distance(w, lower(candidate));
    if (d <= limit && d < best_distance) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  return best;
}

bool valid_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Cluster and function names end up in directory names, URLs and log
// prefixes: letters, digits, '.', '_', '-', starting with a letter or digit.
const std::string name_rule = "letters, digits, '.', '_', '-', starting with a letter or digit, at most 63 characters";

bool valid_resource_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// Lexically normal, without a trailing separator ("a/b/" -> "a/b").
fs::path normal(const fs::path& path) {
  fs::path out = path.lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out;
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// ---------------------------------------------------------------------------
// Problems, remembered with the index of their file so they can be sorted.

struct Origin {
  int file = -1;  // index into the loader's file table
  int line = 0;
  int column = 0;
};

class Problems {
 public:
  explicit Problems(std::vector<std::string> file_names) : names_(std::move(file_names)) {}

  void add(const Origin& origin, std::string field, std::string message) {
    ManifestProblem p;
    if (origin.file >= 0 && static_cast<std::size_t>(origin.file) < names_.size()) p.file = names_[origin.file];
    p.line = origin.line;
    p.column = origin.column;
    p.field = std::move(field);
    p.message = std::move(message);
    items_.push_back({origin.file, std::move(p)});
  }

  bool empty() const { return items_.empty(); }

  std::vector<ManifestProblem> sorted() && {
    auto rank = [](int file) { return file < 0 ? INT_MAX : file; };
    std::stable_sort(items_.begin(), items_.end(), [&](const Item& a, const Item& b) {
      if (rank(a.file) != rank(b.file)) return rank(a.file) < rank(b.file);
      if (a.problem.line != b.problem.line) return a.problem.line < b.problem.line;
      return a.problem.column < b.problem.column;
    });
    std::vector<ManifestProblem> out;
    out.reserve(items_.size());
    for (auto& item : items_) out.push_back(std::move(item.problem));
    return out;
  }

 private:
  struct Item {
    int file;
    ManifestProblem problem;
  };
  std::vector<std::string> names_;
  std::vector<Item> items_;
};

// ---------------------------------------------------------------------------
// The document tree: yaml-cpp's nodes do not know their file, and merging
// must keep, for every final value, where it came from.

struct Entry;

struct Node {
  enum class Kind { Null, Scalar, Sequence, Mapping };
  Kind kind = Kind::Null;
  std::string text;            // Scalar
  std::vector<Node> items;     // Sequence
  std::vector<Entry> entries;  // Mapping, in document order
  Origin origin;
  bool reported = false;  // a problem was already reported for this value (interpolation)
};

struct Entry {
  std::string key;
  Origin key_origin;
  Node value;
};

Entry* find_entry(Node& map, std::string_view key) {
  for (auto& e : map.entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

const Entry* find_entry(const Node& map, std::string_view key) {
  for (const auto& e : map.entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

std::string describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::Null:
      return "null";
    case Node::Kind::Scalar:
      return "'" + node.text + "'";
    case Node::Kind::Sequence:
      return "a list";
    case Node::Kind::Mapping:
      return "a mapping";
  }
  return "?";
}

Origin origin_of(const YAML::Node& node, int file, const Origin& fallback) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return fallback;
  return Origin{file, mark.line + 1, mark.column + 1};
}

Node convert(const YAML::Node& y, int file, const Origin& fallback, const std::string& path, Problems& problems) {
  Node node;
  node.origin = origin_of(y, file, fallback);
  switch (y.Type()) {
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::Scalar;
      node.text = y.Scalar();
      break;
    case YAML::NodeType::Sequence: {
      node.kind = Node::Kind::Sequence;
      std::size_t i = 0;
      for (const auto& item : y) {
        node.items.push_back(convert(item, file, node.origin, path + "[" + std::to_string(i++) + "]", problems));
      }
      break;
    }
    case YAML::NodeType::Map:
      node.kind = Node::Kind::Mapping;
      for (auto it = y.begin(); it != y.end(); ++it) {
        Origin key_origin = origin_of(it->first, file, node.origin);
        if (!it->first.IsScalar()) {
          problems.add(key_origin, path, "keys must be plain strings");
          continue;
        }
        const std::string& key = it->first.Scalar();
        if (const Entry* first = find_entry(node, key)) {
          problems.add(key_origin, join(path, key),
                       "duplicate key (first defined at line " + std::to_string(first->key_origin.line) + ")");
          continue;
        }
        Entry entry{key, key_origin, {}};
        // An implicit null ("key:") carries the mark of whatever follows it;
        // the key's own position is the useful one.
        if (it->second.IsNull()) {
          entry.value.origin = key_origin;
        } else {
          entry.value = convert(it->second, file, key_origin, join(path, key), problems);
        }
        node.entries.push_back(std::move(entry));
      }
      break;
    default:
      break;  // Null / Undefined
  }
  return node;
}

// ---------------------------------------------------------------------------
// The schema's structural keys. Like SlimFaas, they are matched
// case-insensitively ("Environment" works); they are renamed to their
// canonical spelling before merging so that overlays meet the same key.

// Sections of SlimFaas's format this build does not run yet: named as such,
// not as unknown keys.
const std::map<std::string, std::string_view, std::less<>> unbuilt_root_sections{
    {"processes", "auxiliary processes (processes:)"}, {"jobs", "jobs (jobs:)"}};

const std::vector<std::string_view> root_keys{"schemaVersion", "name", "cluster", "processPorts", "state", "functions"};
const std::vector<std::string_view> cluster_keys{"nodes", "entrypointPort", "nodeHttpPortBase", "raftPortBase",
                                                 "nodeLogLevel"};
const std::vector<std::string_view> port_range_keys{"from", "to"};
const std::vector<std::string_view> state_keys{"mode", "directory"};
const std::vector<std::string_view> function_keys{"command",     "workingDirectory", "annotations",
                                                  "environment", "health",           "debugUrl"};
const std::vector<std::string_view> health_keys{"path", "periodSeconds", "timeoutSeconds", "startupTimeoutSeconds"};

const std::vector<std::string_view> known_annotations{
    "SlimFaas/Function",
    "SlimFaas/ReplicasMin",
    "SlimFaas/ReplicasAtStart",
    "SlimFaas/TimeoutSecondBeforeSetReplicasMin",
    "SlimFaas/NumberParallelRequest",
    "SlimFaas/NumberParallelRequestPerPod",
    "SlimFaas/ReplicasStartAsSoonAsOneFunctionRetrieveARequest",
    "SlimFaas/DependsOn",
    "SlimFaas/SubscribeEvents",
    "SlimFaas/DefaultVisibility",
    "SlimFaas/PathsStartWithVisibility",
    "SlimFaas/DefaultTrust",
    "SlimFaas/Configuration",
    "SlimFaas/Schedule",
    "SlimFaas/Scale",
};

const std::vector<std::string_view> log_levels{"Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"};

void canonicalize_keys(Node& map, const std::vector<std::string_view>& keys, const std::string& path,
                       Problems& problems) {
  if (map.kind != Node::Kind::Mapping) return;
  std::vector<Entry> kept;
  for (auto& entry : map.entries) {
    for (auto key : keys) {
      if (entry.key != key && iequals(entry.key, key)) {
        entry.key = std::string(key);
        break;
      }
    }
    auto same = std::find_if(kept.begin(), kept.end(), [&](const Entry& e) { return e.key == entry.key; });
    if (same != kept.end()) {
      problems.add(entry.key_origin, join(path, entry.key),
                   "duplicate key (keys are case-insensitive; first defined at line " +
                       std::to_string(same->key_origin.line) + ")");
      continue;
    }
    kept.push_back(std::move(entry));
  }
  map.entries = std::move(kept);
}

void canonicalize(Node& root, Problems& problems) {
  canonicalize_keys(root, root_keys, "", problems);
  if (root.kind != Node::Kind::Mapping) return;
  if (Entry* e = find_entry(root, "cluster")) canonicalize_keys(e->value, cluster_keys, "cluster", problems);
  if (Entry* e = find_entry(root, "processPorts"))
    canonicalize_keys(e->value, port_range_keys, "processPorts", problems);
  if (Entry* e = find_entry(root, "state")) canonicalize_keys(e->value, state_keys, "state", problems);
  if (Entry* functions = find_entry(root, "functions"); functions && functions->value.kind == Node::Kind::Mapping) {
    for (auto& fn : functions->value.entries) {
      const std::string path = "functions." + fn.key;
      canonicalize_keys(fn.value, function_keys, path, problems);
      if (fn.value.kind != Node::Kind::Mapping) continue;
      if (Entry* h = find_entry(fn.value, "health"))
        canonicalize_keys(h->value, health_keys, path + ".health", problems);
    }
  }
}

// ---------------------------------------------------------------------------
// Overlays

// A copy without the null-valued mapping entries (an explicit null in an
// overlay removes; where nothing is inherited it simply means absent).
Node without_nulls(const Node& node) {
  Node out = node;
  if (out.kind == Node::Kind::Mapping) {
    out.entries.clear();
    for (const auto& e : node.entries) {
      if (e.value.kind == Node::Kind::Null) continue;
      out.entries.push_back(Entry{e.key, e.key_origin, without_nulls(e.value)});
    }
  }
  return out;
}

void merge_into(Node& base, const Node& overlay) {
  for (const auto& e : overlay.entries) {
    Entry* existing = find_entry(base, e.key);
    if (e.value.kind == Node::Kind::Null) {
      if (existing) {
        base.entries.erase(base.entries.begin() + (existing - base.entries.data()));
      }
      continue;
    }
    if (existing && existing->value.kind == Node::Kind::Mapping && e.value.kind == Node::Kind::Mapping) {
      merge_into(existing->value, e.value);
      continue;
    }
    if (existing) {
      existing->key_origin = e.key_origin;
      existing->value = without_nulls(e.value);
    } else {
      base.entries.push_back(Entry{e.key, e.key_origin, without_nulls(e.value)});
    }
  }
}

// ---------------------------------------------------------------------------
// ${VAR} interpolation

class Interpolator {
 public:
  Interpolator(const std::map<std::string, std::string>& process_env,
               const std::map<std::string, std::string>& file_env, Problems& problems)
      : process_env_(process_env), file_env_(file_env), problems_(problems) {}

  void run(Node& node, const std::string& path) {
    switch (node.kind) {
      case Node::Kind::Scalar: {
        std::vector<std::string> errors;
        node.text = expand(node.text, errors);
        for (auto& error : errors) problems_.add(node.origin, path, std::move(error));
        if (!errors.empty()) node.reported = true;
        break;
      }
      case Node::Kind::Sequence:
        for (std::size_t i = 0; i < node.items.size(); ++i) run(node.items[i], path + "[" + std::to_string(i) + "]");
        break;
      case Node::Kind::Mapping:
        for (auto& e : node.entries) run(e.value, join(path, e.key));
        break;
      case Node::Kind::Null:
        break;
    }
  }

 private:
  std::optional<std::string> lookup(const std::string& name) const {
    if (auto it = process_env_.find(name); it != process_env_.end()) return it->second;
    if (auto it = file_env_.find(name); it != file_env_.end()) return it->second;
    return std::nullopt;
  }

  std::string expand(const std::string& text, std::vector<std::string>& errors) const {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
      char c = text[i];
      if (c != '$' || i + 1 >= text.size()) {
        out += c;
        ++i;
        continue;
      }
      if (text[i + 1] == '$') {
        out += '$';
        i += 2;
        continue;
      }
      if (text[i + 1] != '{') {
        out += c;
        ++i;
        continue;
      }
      std::size_t close = text.find('}', i + 2);
      if (close == std::string::npos) {
        errors.push_back("unterminated '${' (write $$ for a literal $)");
        out += text.substr(i);
        break;
      }
      std::string inner = text.substr(i + 2, close - i - 2);
      std::size_t separator = inner.find(":-");
      std::string name = inner.substr(0, separator);
      if (!valid_variable_name(name)) {
        errors.push_back("invalid variable name '" + name + "' in '${" + inner + "}'");
      } else {
        auto value = lookup(name);
        if (separator != std::string::npos && (!value || value->empty())) {
          out += inner.substr(separator + 2);
        } else if (value) {
          out += *value;
        } else {
          errors.push_back("undefined variable " + name + " (set it in the environment or an --env-file, or write ${" +
                           name + ":-default})");
        }
      }
      i = close + 1;
    }
    return out;
  }

  const std::map<std::string, std::string>& process_env_;
  const std::map<std::string, std::string>& file_env_;
  Problems& problems_;
};

// ---------------------------------------------------------------------------
// Typing and validation of the merged document

struct PortUse {
  int port;
  std::string what;   // "node HTTP port of node 1"
  std::string field;  // "cluster.nodeHttpPortBase"
  Origin origin;
  int group;
};

class Typer {
 public:
  Typer(Problems& problems, Origin fallback) : problems_(problems), fallback_(fallback) {}

  void problem(const Origin& origin, const std::string& field, std::string message) {
    problems_.add(origin, field, std::move(message));
  }

  const Node* get(const Node& map, std::string_view key) const {
    const Entry* e = find_entry(map, key);
    return e ? &e->value : nullptr;
  }

  Origin origin_or_fallback(const Node* node) const { return node ? node->origin : fallback_; }

  void unknown_keys(const Node& map, const std::string& path, const std::vector<std::string_view>& known) {
    for (const auto& e : map.entries) {
      if (std::find(known.begin(), known.end(), e.key) != known.end()) continue;
      if (path.empty()) {
        if (auto it = unbuilt_root_sections.find(e.key); it != unbuilt_root_sections.end()) {
          problem(e.key_origin, e.key,
                  "SlimFaas's " + std::string(it->second) +
                      " are not supported by this build yet (see docs/local-mode.md); remove the section");
          continue;
        }
      }
      std::string message = "unknown key '" + e.key + "'";
      if (auto suggestion = closest(e.key, known)) message += "; did you mean '" + *suggestion + "'?";
      problem(e.key_origin, join(path, e.key), message);
    }
  }

  bool mapping(const Node& node, const std::string& field) {
    if (node.kind == Node::Kind::Mapping) return true;
    if (!node.reported) problem(node.origin, field, "expected a mapping, got " + describe(node));
    return false;
  }

  std::optional<std::string> string(const Node& node, const std::string& field) {
    if (node.reported) return std::nullopt;
    if (node.kind != Node::Kind::Scalar) {
      problem(node.origin, field, "expected a string, got " + describe(node));
      return std::nullopt;
    }
    return node.text;
  }

  std::optional<int> integer(const Node& node, const std::string& field, long long min, long long max) {
    if (node.reported) return std::nullopt;
    if (node.kind != Node::Kind::Scalar) {
      problem(node.origin, field, "expected an integer, got " + describe(node));
      return std::nullopt;
    }
    std::string text = trim(node.text);
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      problem(node.origin, field, "expected an integer, got " + describe(node));
      return std::nullopt;
    }
    if (value < min || value > max) {
      if (max == INT_MAX)
        problem(node.origin, field, "must be at least " + std::to_string(min) + ", got " + text);
      else
        problem(node.origin, field,
                "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text);
      return std::nullopt;
    }
    return static_cast<int>(value);
  }

  // Reads an optional integer field into `target`; false when present and bad.
  bool read_int(const Node& map, std::string_view key, const std::string& path, long long min, long long max,
                int& target) {
    const Node* node = get(map, key);
    if (!node) return true;
    auto value = integer(*node, join(path, key), min, max);
    if (value) target = *value;
    return value.has_value();
  }

  LocalManifest type(const Node& root, LocalManifest manifest) {
    unknown_keys(root, "", root_keys);

    if (const Node* version = get(root, "schemaVersion")) {
      if (auto v = integer(*version, "schemaVersion", INT_MIN, INT_MAX)) {
        if (*v != 1)
          problem(version->origin, "schemaVersion",
                  "unsupported schemaVersion " + std::to_string(*v) + "; only 1 is supported");
        else
          manifest.schema_version = *v;
      }
    }

    bool name_ok = false;
    if (const Node* name = get(root, "name")) {
      if (auto v = string(*name, "name")) {
        if (!valid_resource_name(*v)) {
          problem(name->origin, "name", "'" + *v + "' is not a valid name (" + name_rule + ")");
        } else {
          manifest.name = *v;
          name_ok = true;
        }
      }
    } else {
      problem(fallback_, "name", "is required");
    }

    const bool cluster_ok = read_cluster(root, manifest.cluster);
    const bool process_ports_ok = read_process_ports(root, manifest.process_ports);
    read_state(root, manifest, name_ok);

    // The ports the nodes take (empty when the cluster settings are bad:
    // their clashes would only be noise).
    std::vector<PortUse> reserved;
    if (cluster_ok) reserved = check_ports(root, manifest, process_ports_ok);

    if (const Node* functions = get(root, "functions")) {
      if (mapping(*functions, "functions")) {
        for (const auto& entry : functions->entries) {
          if (auto fn = read_function(entry, manifest.base_directory, reserved)) {
            manifest.functions.push_back(std::move(*fn));
          }
        }
      }
    }
    return manifest;
  }

 private:
  bool read_cluster(const Node& root, ClusterSettings& cluster) {
    const Node* node = get(root, "cluster");
    if (!node) return true;
    if (!mapping(*node, "cluster")) return false;
    unknown_keys(*node, "cluster", cluster_keys);
    bool ok = read_int(*node, "nodes", "cluster", 1, 9, cluster.nodes);
    ok = read_int(*node, "entrypointPort", "cluster", 1, 65535, cluster.entrypoint_port) && ok;
    ok = read_int(*node, "nodeHttpPortBase", "cluster", 1, 65535, cluster.node_http_port_base) && ok;
    ok = read_int(*node, "raftPortBase", "cluster", 1, 65535, cluster.raft_port_base) && ok;
    if (const Node* level = get(*node, "nodeLogLevel")) {
      if (auto v = string(*level, "cluster.nodeLogLevel")) {
        auto known = std::find_if(log_levels.begin(), log_levels.end(),
                                  [&](std::string_view l) { return iequals(l, trim(*v)); });
        if (known != log_levels.end()) {
          cluster.node_log_level = std::string(*known);
        } else {
          problem(level->origin, "cluster.nodeLogLevel",
                  "'" + *v + "' is not one of Trace, Debug, Information, Warning, Error, Critical, None");
        }
      }
    }
    return ok;
  }

  bool read_process_ports(const Node& root, PortRange& range) {
    const Node* node = get(root, "processPorts");
    if (!node) return true;
    if (!mapping(*node, "processPorts")) return false;
    unknown_keys(*node, "processPorts", port_range_keys);
    bool ok = read_int(*node, "from", "processPorts", 1, 65535, range.from);
    ok = read_int(*node, "to", "processPorts", 1, 65535, range.to) && ok;
    if (ok && range.from > range.to) {
      const Node* from = get(*node, "from");
      problem(from ? from->origin : node->origin, "processPorts",
              "from (" + std::to_string(range.from) + ") is greater than to (" + std::to_string(range.to) + ")");
      return false;
    }
    return ok;
  }

  void read_state(const Node& root, LocalManifest& manifest, bool name_ok) {
    const Node* node = get(root, "state");
    std::optional<std::string> directory;
    if (node && mapping(*node, "state")) {
      unknown_keys(*node, "state", state_keys);
      if (const Node* mode = get(*node, "mode")) {
        if (auto v = string(*mode, "state.mode")) {
          if (iequals(trim(*v), "persistent"))
            manifest.state.mode = StateMode::Persistent;
          else if (iequals(trim(*v), "ephemeral"))
            manifest.state.mode = StateMode::Ephemeral;
          else
            problem(mode->origin, "state.mode", "'" + *v + "' is not persistent or ephemeral");
        }
      }
      if (const Node* dir = get(*node, "directory")) {
        if (auto v = string(*dir, "state.directory")) {
          if (v->empty())
            problem(dir->origin, "state.directory", "must not be empty");
          else
            directory = *v;
        }
      }
    }
    if (!directory && name_ok) directory = ".slimfaas/" + manifest.name;
    if (directory) manifest.state.directory = normal(manifest.base_directory / *directory);
  }

  std::vector<PortUse> check_ports(const Node& root, const LocalManifest& manifest, bool check_process_ports) {
    const ClusterSettings& c = manifest.cluster;
    const Node* cluster = get(root, "cluster");
    auto field_origin = [&](std::string_view key) {
      return origin_or_fallback(cluster && cluster->kind == Node::Kind::Mapping ? get(*cluster, key) : nullptr);
    };
    std::vector<PortUse> uses;
    uses.push_back({c.entrypoint_port, "entrypoint port", "cluster.entrypointPort", field_origin("entrypointPort"), 0});
    bool ranges_ok = true;
    auto add_range = [&](int base, const char* what, const char* key, int group) {
      const std::string field = std::string("cluster.") + key;
      if (base + c.nodes - 1 > 65535) {
        problem(field_origin(key), field,
                std::string(what) + "s " + std::to_string(base) + ".." + std::to_string(base + c.nodes - 1) +
                    " go beyond 65535");
        ranges_ok = false;
        return;
      }
      for (int i = 0; i < c.nodes; ++i) {
        uses.push_back(
            {base + i, std::string(what) + " of node " + std::to_string(i), field, field_origin(key), group});
      }
    };
    add_range(c.node_http_port_base, "node HTTP port", "nodeHttpPortBase", 1);
    add_range(c.raft_port_base, "Raft port", "raftPortBase", 2);
    if (!ranges_ok) return {};

    // Each pair of fields is reported once, at the field written last (an
    // explicit value rather than a default, an overlay rather than the base).
    auto later = [](const Origin& x, const Origin& y) {
      return std::tie(x.file, x.line, x.column) > std::tie(y.file, y.line, y.column);
    };
    std::vector<std::pair<int, int>> reported;
    for (std::size_t a = 0; a < uses.size(); ++a) {
      for (std::size_t b = a + 1; b < uses.size(); ++b) {
        if (uses[a].port != uses[b].port || uses[a].group == uses[b].group) continue;
        std::pair<int, int> groups{uses[a].group, uses[b].group};
        if (std::find(reported.begin(), reported.end(), groups) != reported.end()) continue;
        reported.push_back(groups);
        const PortUse& at = later(uses[a].origin, uses[b].origin) ? uses[a] : uses[b];
        const PortUse& other = &at == &uses[a] ? uses[b] : uses[a];
        problem(at.origin, at.field,
                "port " + std::to_string(at.port) + " (" + at.what + ") is also the " + other.what);
      }
    }
    const PortRange& range = manifest.process_ports;
    std::vector<int> inside_reported;
    for (const auto& use : uses) {
      if (!check_process_ports) break;
      if (!range.contains(use.port)) continue;
      if (std::find(inside_reported.begin(), inside_reported.end(), use.group) != inside_reported.end()) continue;
      inside_reported.push_back(use.group);
      problem(use.origin, use.field,
              "port " + std::to_string(use.port) + " (" + use.what + ") is inside processPorts " +
                  std::to_string(range.from) + ".." + std::to_string(range.to));
    }
    return uses;
  }

  std::optional<LocalFunction> read_function(const Entry& entry, const fs::path& base,
                                             const std::vector<PortUse>& reserved) {
    const std::string path = "functions." + entry.key;
    LocalFunction fn;
    fn.name = entry.key;
    fn.working_directory = base;
    bool ok = true;
    if (!valid_resource_name(entry.key)) {
      problem(entry.key_origin, path, "'" + entry.key + "' is not a valid function name (" + name_rule + ")");
      ok = false;
    }
    const Node& node = entry.value;
    if (!mapping(node, path)) return std::nullopt;
    unknown_keys(node, path, function_keys);

    if (const Node* debug = get(node, "debugUrl")) {
      if (auto v = string(*debug, path + ".debugUrl")) {
        if (auto endpoint = debug_endpoint(*v, debug->origin, path + ".debugUrl")) {
          fn.debug_url = *v;
          fn.debug_endpoint = endpoint;
          for (const auto& use : reserved) {
            if (use.port != endpoint->port) continue;
            problem(debug->origin, path + ".debugUrl", "port " + std::to_string(use.port) + " is also the " + use.what);
            ok = false;
            break;
          }
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
    }

    const Node* command = get(node, "command");
    if (command) {
      if (command->kind != Node::Kind::Sequence) {
        if (!command->reported)
          problem(command->origin, path + ".command", "expected a list of strings, got " + describe(*command));
        ok = false;
      } else if (command->items.empty()) {
        // An empty list clears an inherited command; only a debugUrl can do without one.
        if (!get(node, "debugUrl")) {
          problem(command->origin, path + ".command", "must not be empty (or give a debugUrl)");
          ok = false;
        }
      } else {
        for (std::size_t i = 0; i < command->items.size(); ++i) {
          const std::string field = path + ".command[" + std::to_string(i) + "]";
          if (auto v = string(command->items[i], field)) {
            if (i == 0 && trim(*v).empty()) {
              problem(command->items[i].origin, field, "the program to run must not be empty");
              ok = false;
            }
            fn.command.push_back(*v);
          } else {
            ok = false;
          }
        }
      }
    } else if (!get(node, "debugUrl")) {
      problem(entry.key_origin, path, "needs a command (or a debugUrl)");
      ok = false;
    }

    if (const Node* wd = get(node, "workingDirectory")) {
      if (auto v = string(*wd, path + ".workingDirectory")) {
        fs::path dir = normal(base / *v);
        std::error_code ec;
        if (!fs::exists(dir, ec)) {
          problem(wd->origin, path + ".workingDirectory", "directory " + dir.string() + " does not exist");
          ok = false;
        } else if (!fs::is_directory(dir, ec)) {
          problem(wd->origin, path + ".workingDirectory", dir.string() + " is not a directory");
          ok = false;
        } else {
          fn.working_directory = dir;
        }
      }
    }

    if (const Node* annotations = get(node, "annotations")) {
      ok = read_annotations(*annotations, path + ".annotations", fn) && ok;
    }

    if (const Node* environment = get(node, "environment")) {
      const std::string env_path = path + ".environment";
      if (mapping(*environment, env_path)) {
        for (const auto& e : environment->entries) {
          if (e.key.empty() || e.key.find('=') != std::string::npos || e.key.find('\0') != std::string::npos) {
            problem(e.key_origin, join(env_path, e.key), "'" + e.key + "' is not a valid environment variable name");
            ok = false;
            continue;
          }
          if (auto v = string(e.value, join(env_path, e.key))) fn.environment[e.key] = *v;
        }
      }
    }

    if (const Node* health = get(node, "health")) {
      const std::string hp = path + ".health";
      if (mapping(*health, hp)) {
        unknown_keys(*health, hp, health_keys);
        if (const Node* p = get(*health, "path")) {
          if (auto v = string(*p, hp + ".path")) {
            if (v->empty() || v->front() != '/')
              problem(p->origin, hp + ".path", "must start with '/', got '" + *v + "'");
            else
              fn.health.path = *v;
          }
        }
        read_int(*health, "periodSeconds", hp, 1, INT_MAX, fn.health.period_seconds);
        read_int(*health, "timeoutSeconds", hp, 1, INT_MAX, fn.health.timeout_seconds);
        read_int(*health, "startupTimeoutSeconds", hp, 1, INT_MAX, fn.health.startup_timeout_seconds);
      }
    }
    if (!ok) return std::nullopt;
    return fn;
  }

  std::optional<k8s::Endpoint> debug_endpoint(const std::string& url, const Origin& origin, const std::string& field) {
    try {
      k8s::Endpoint endpoint = k8s::parse_http_url(url);
      // parse_http_url defaults the port to 80; a debug target needs it explicit.
      std::string authority = url.substr(std::string_view("http://").size());
      authority = authority.substr(0, authority.find('/'));
      std::size_t after_host = authority.front() == '[' ? authority.find(']') + 1 : authority.rfind(':');
      if (after_host == std::string::npos || after_host >= authority.size() || authority[after_host] != ':') {
        problem(origin, field, "'" + url + "' must give its port explicitly (http://host:port)");
        return std::nullopt;
      }
      return endpoint;
    } catch (const std::invalid_argument& error) {
      problem(origin, field, std::string(error.what()) + " (expected http://host:port)");
      return std::nullopt;
    }
  }

  bool read_annotations(const Node& node, const std::string& path, LocalFunction& fn) {
    if (!mapping(node, path)) return false;
    bool ok = true;
    std::map<std::string, const Entry*> where;
    for (const auto& e : node.entries) {
      const std::string field = join(path, e.key);
      if (starts_with_ci(e.key, "SlimFaas/") &&
          std::find(known_annotations.begin(), known_annotations.end(), e.key) == known_annotations.end()) {
        std::string message = "unknown annotation '" + e.key + "'";
        if (auto suggestion = closest(e.key, known_annotations)) message += "; did you mean '" + *suggestion + "'?";
        problem(e.key_origin, field, message);
        ok = false;
        continue;
      }
      if (auto v = string(e.value, field)) {
        fn.annotations[e.key] = *v;
        where[e.key] = &e;
      } else {
        ok = false;
      }
    }
    fn.config = k8s::parse_annotations(fn.annotations);
    for (const auto& text : fn.config.problems) {
      // "SlimFaas/X: 'value' is not ...; using default N": here it is an
      // error, not a fallback, so the "; using ..." tail is left out.
      std::string key = text.substr(0, text.find(": "));
      std::string message = key.size() < text.size() ? text.substr(key.size() + 2) : text;
      message = message.substr(0, message.rfind("; using "));
      auto it = where.find(key);
      problem(it != where.end() ? it->second->value.origin : node.origin, join(path, key), message);
      ok = false;
    }
    if (auto it = fn.annotations.find(k8s::function_annotation); it != fn.annotations.end()) {
      std::string value = trim(it->second);
      if (iequals(value, "true")) {
        fn.managed = true;
      } else if (!iequals(value, "false")) {
        problem(where[it->first]->value.origin, join(path, it->first), "'" + it->second + "' is not true or false");
        ok = false;
      }
    }
    return ok;
  }

  Problems& problems_;
  Origin fallback_;
};

std::optional<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

std::string unescape_double_quoted(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      char next = raw[++i];
      switch (next) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '$':
          out += '$';
          break;
        default:
          out += '\\';
          out += next;
          break;
      }
    } else {
      out += raw[i];
    }
  }
  return out;
}

}  // namespace

std::string to_string(const ManifestProblem& problem) {
  std::string out;
  if (!problem.file.empty()) {
    out += problem.file;
    if (problem.line > 0) {
      out += ":" + std::to_string(problem.line);
      if (problem.column > 0) out += ":" + std::to_string(problem.column);
    }
    out += ": ";
  }
  if (!problem.field.empty()) out += problem.field + ": ";
  out += problem.message;
  return out;
}

const char* to_string(StateMode mode) { return mode == StateMode::Persistent ? "persistent" : "ephemeral"; }

const LocalFunction* LocalManifest::find_function(std::string_view name) const {
  for (const auto& fn : functions) {
    if (fn.name == name) return &fn;
  }
  return nullptr;
}

std::map<std::string, std::string> parse_dotenv(std::string_view text, const std::string& file_name,
                                                std::vector<ManifestProblem>& problems) {
  std::map<std::string, std::string> values;
  int line_number = 0;
  std::size_t start = 0;
  auto report = [&](int column, const std::string& field, const std::string& message) {
    problems.push_back(ManifestProblem{file_name, line_number, column, field, message});
  };
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    std::size_t pos = line.find_first_not_of(" \t");
    if (pos == std::string_view::npos || line[pos] == '#') continue;
    std::string_view rest = line.substr(pos);
    if (rest.substr(0, 6) == "export" && rest.size() > 6 && (rest[6] == ' ' || rest[6] == '\t')) {
      rest.remove_prefix(6);
      rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
    }
    const int key_column = static_cast<int>(line.size() - rest.size()) + 1;
    std::size_t equals = rest.find('=');
    if (equals == std::string_view::npos) {
      report(key_column, "", "expected KEY=value");
      continue;
    }
    std::string key = trim(rest.substr(0, equals));
    if (!valid_variable_name(key)) {
      report(key_column, key, "'" + key + "' is not a valid variable name");
      continue;
    }
    std::string_view value = rest.substr(equals + 1);
    value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
    std::string parsed;
    std::string_view after;
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      const char quote = value.front();
      std::size_t close = 1;
      while (close < value.size() && value[close] != quote) close += (quote == '"' && value[close] == '\\') ? 2 : 1;
      if (close >= value.size()) {
        report(key_column, key,
               std::string("unterminated ") + (quote == '"' ? "double" : "single") +
                   " quote (multi-line values are not supported)");
        continue;
      }
      std::string_view inner = value.substr(1, close - 1);
      parsed = quote == '"' ? unescape_double_quoted(inner) : std::string(inner);
      after = value.substr(close + 1);
      std::size_t extra = after.find_first_not_of(" \t");
      if (extra != std::string_view::npos && after[extra] != '#') {
        report(key_column, key, "unexpected text after the closing quote");
        continue;
      }
    } else {
      // An unquoted value ends at a " #" comment.
      std::size_t comment = std::string_view::npos;
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '#' && (i == 0 || value[i - 1] == ' ' || value[i - 1] == '\t')) {
          comment = i;
          break;
        }
      }
      parsed = trim(value.substr(0, comment));
    }
    values[key] = std::move(parsed);
  }
  return values;
}

ManifestResult load_manifests(const std::vector<fs::path>& files, const std::vector<fs::path>& env_files,
                              const std::map<std::string, std::string>& process_env) {
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.string());
  for (const auto& f : env_files) names.push_back(f.string());
  Problems problems(names);
  ManifestResult result;

  if (files.empty()) {
    problems.add(Origin{}, "", "no manifest file given");
    result.problems = std::move(problems).sorted();
    return result;
  }

  // Env files: later ones override earlier ones.
  std::map<std::string, std::string> file_env;
  for (std::size_t j = 0; j < env_files.size(); ++j) {
    const int index = static_cast<int>(files.size() + j);
    auto text = read_text(env_files[j]);
    if (!text) {
      problems.add(Origin{index, 0, 0}, "", "cannot read the env file");
      continue;
    }
    std::vector<ManifestProblem> dotenv_problems;
    for (auto& [key, value] : parse_dotenv(*text, names[index], dotenv_problems)) file_env[key] = value;
    for (auto& p : dotenv_problems) problems.add(Origin{index, p.line, p.column}, p.field, p.message);
  }

  // Parse and merge the manifests.
  Node merged;
  merged.kind = Node::Kind::Mapping;
  merged.origin = Origin{0, 0, 0};
  bool parsed_all = true;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const int index = static_cast<int>(i);
    auto text = read_text(files[i]);
    if (!text) {
      problems.add(Origin{index, 0, 0}, "", "cannot read the manifest file");
      parsed_all = false;
      continue;
    }
    std::vector<YAML::Node> documents;
    try {
      documents = YAML::LoadAll(*text);
    } catch (const YAML::Exception& error) {
      Origin origin{index, 0, 0};
      if (!error.mark.is_null() && error.mark.line >= 0)
        origin = Origin{index, error.mark.line + 1, error.mark.column + 1};
      problems.add(origin, "", "YAML syntax error: " + error.msg);
      parsed_all = false;
      continue;
    }
    if (documents.size() > 1) {
      problems.add(origin_of(documents[1], index, Origin{index, 0, 0}), "",
                   "a manifest file holds one YAML document; split the others into overlays");
      parsed_all = false;
      continue;
    }
    if (documents.empty() || documents.front().IsNull()) continue;  // an empty overlay changes nothing
    Node root = convert(documents.front(), index, Origin{index, 1, 1}, "", problems);
    if (root.kind != Node::Kind::Mapping) {
      problems.add(root.origin, "",
                   "the document must be a mapping (schemaVersion, name, cluster, ...), got " + describe(root));
      parsed_all = false;
      continue;
    }
    canonicalize(root, problems);
    merge_into(merged, root);
  }
  if (!parsed_all) {
    result.problems = std::move(problems).sorted();
    return result;
  }

  Interpolator(process_env, file_env, problems).run(merged, "");

  LocalManifest manifest;
  std::error_code ec;
  fs::path first = fs::absolute(files.front(), ec);
  if (ec) first = files.front();
  manifest.base_directory = normal(first).parent_path();
  manifest.files = files;

  Typer typer(problems, Origin{0, 0, 0});
  LocalManifest typed = typer.type(merged, std::move(manifest));
  if (problems.empty()) {
    result.manifest = std::move(typed);
  } else {
    result.problems = std::move(problems).sorted();
  }
  return result;
}

}  // namespace slimfaas::app
