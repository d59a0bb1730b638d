#include "server/config_secrets.hpp"

#include "server/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace turnpike {

namespace {

constexpr size_t kMaxSecretFile = 64 * 1024;

bool name_start(char ch) { return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }
bool name_char(char ch) { return name_start(ch) || (ch >= '0' && ch <= '9'); }

// The variable's name in "${NAME}" starting at `open` (the '$'); sets `end` past the '}'.
std::string variable_name(const std::string& text, size_t open, const std::string& key, size_t& end) {
  size_t close = text.find('}', open + 2);
  if (close == std::string::npos) throw ConfigError(key, "'${' without a closing '}' (write $${ for a literal ${)");
  std::string name = text.substr(open + 2, close - open - 2);
  bool ok = !name.empty() && name_start(name[0]);
  for (char ch : name) ok = ok && name_char(ch);
  if (!ok) throw ConfigError(key, "'${" + name + "}' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
  end = close + 1;
  return name;
}

std::string read_secret_file(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(key, "cannot read '" + path + "': " + std::strerror(errno));
  std::string text(kMaxSecretFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) throw ConfigError(key, "cannot read '" + path + "'");
  if (text.size() > kMaxSecretFile) throw ConfigError(key, "'" + path + "' is larger than 64 KiB");
  return text;
}

std::string trim_line_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// One secret per non-empty line, in file order (newest first).
std::vector<std::string> secret_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = trim_line_end(text.substr(start, nl - start));
    if (!line.empty()) out.push_back(line);
    start = nl + 1;
  }
  return out;
}

void expand_tree(YAML::Node node, const std::string& path, const EnvLookup& env) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    if (text.find('$') != std::string::npos) node = expand_env(text, path.empty() ? "(top level)" : path, env);
    return;
  }
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) expand_tree(node[i], path + "[" + std::to_string(i) + "]", env);
    return;
  }
  if (!node.IsMap()) return;
  for (auto kv : node) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    expand_tree(kv.second, path.empty() ? key : path + "." + key, env);
  }
}

// section.file_key: read the file into section.inline_key (a list of lines, or the whole text).
void file_into(YAML::Node root, const char* section, const char* file_key, const char* inline_key, bool lines) {
  YAML::Node s = root[section];
  if (!s || !s.IsMap() || !s[file_key]) return;
  const std::string key = std::string(section) + "." + file_key;
  if (s[inline_key]) throw ConfigError(key, std::string("give either ") + section + "." + inline_key + " or " + key + ", not both");
  if (!s[file_key].IsScalar() || s[file_key].Scalar().empty()) throw ConfigError(key, "must be a file name");
  const std::string path = s[file_key].Scalar();
  std::string text = read_secret_file(path, key);
  s.remove(file_key);
  if (lines) {
    auto secrets = secret_lines(text);
    if (secrets.empty()) throw ConfigError(key, "no secret in '" + path + "' (one per line)");
    YAML::Node list(YAML::NodeType::Sequence);
    for (auto& v : secrets) list.push_back(v);
    s[inline_key] = list;
  } else {
    text = trim_line_end(text);
    if (text.empty()) throw ConfigError(key, "'" + path + "' is empty");
    s[inline_key] = text;
  }
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

std::string expand_env(const std::string& text, const std::string& key, const EnvLookup& env) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    size_t end = 0;
    std::string name = variable_name(text, i, key, end);
    auto value = env(name);
    if (!value) throw ConfigError(key, "environment variable " + name + " is not set");
    out += *value;
    i = end;
  }
  return out;
}

void resolve_secrets(YAML::Node& root, const EnvLookup& env) {
  if (!root.IsMap()) return;
  expand_tree(root, "", env);
  file_into(root, "auth", "rest_secrets_file", "rest_secrets", true);
  file_into(root, "sfu", "token_keys_file", "token_keys", true);
  file_into(root, "admin", "token_file", "token", false);
}

}  // namespace turnpike
