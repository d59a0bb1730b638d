// Private to server/config*.cpp: the YAML readers every config section shares (each throws
// ConfigError naming the key), and the sections parsed in their own files.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "server/config.hpp"

namespace turnpike::config_detail {

std::string join(const std::string& a, const std::string& b);  // "a.b", or b when a is empty
// `n` is a mapping whose keys are all in `allowed` (`path`: where it is, for the error).
void only_keys(const YAML::Node& n, const std::string& path, std::set<std::string> allowed);
std::string str(const YAML::Node& n, const std::string& key);
bool boolean(const YAML::Node& n, const std::string& key);  // true or false, nothing else
uint64_t uint(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max);
turn::IpAddress address(const YAML::Node& n, const std::string& key);
std::vector<turn::Cidr> cidrs(const YAML::Node& n, const std::string& key);
turn::Transport transport(const std::string& s, const std::string& key);

// sfu.* (server/config_sfu.cpp).
void parse_sfu(const YAML::Node& n, Config& c);
// regions.* and residency.* (server/config_regions.cpp); check_residency after every section.
void parse_regions(const YAML::Node& n, Config& c);
void parse_residency(const YAML::Node& n, Config& c);
void check_residency(Config& c);
// check.* (server/config_check.cpp).
void parse_check(const YAML::Node& n, Config& c);

}  // namespace turnpike::config_detail
