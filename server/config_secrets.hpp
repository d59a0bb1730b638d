// Secrets from files and the environment (issue 17, docs/configuration.md "Secrets from files and
// the environment"), applied to the YAML tree of a config file before it is parsed, so that every
// load (start-up, --check-config, reload) re-reads them:
//   - `${NAME}` in any string value is replaced by the environment variable NAME (an unset variable
//     is a ConfigError naming the key and the variable); `$${` is a literal `${`;
//   - auth.rest_secrets_file and sfu.token_keys_file: one secret per line, newest first (empty lines
//     and a trailing \r are ignored); admin.token_file: the whole file is the token (trailing line
//     breaks trimmed). Each replaces its inline key (rest_secrets, token_keys, token); giving both is
//     an error, and so is a file that cannot be read, is empty or is larger than 64 KiB.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "server/config.hpp"

namespace turnpike {

// Expands `${NAME}` in `text`, the value of `key` (for the error). Throws ConfigError.
std::string expand_env(const std::string& text, const std::string& key, const EnvLookup& env);

// Expands every string value of the tree in place, then reads the *_file keys into their inline keys.
void resolve_secrets(YAML::Node& root, const EnvLookup& env);

}  // namespace turnpike
