// Secrets from files and the environment (server/config_secrets.*, issue 17): through
// load_config_file, which start-up, --check-config and reload all use, so every load re-reads them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "server/config.hpp"
#include "server/config_secrets.hpp"

using namespace turnpike;

namespace {

const std::string kBase = R"(
region: local
listen:
  - { transport: udp, address: 127.0.0.1, port: 3478 }
relay:
  addresses: [127.0.0.1]
  port_range: [49152, 65535]
)";

const std::string kSfu = R"(
sfu:
  signal_listen: 127.0.0.1:8443
  media_listen: 127.0.0.1:40000
)";

class Secrets : public ::testing::Test {
 protected:
  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("turnpike-secrets-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  Config load(const std::string& yaml) {
    std::string path = write("turnpike.yaml", yaml);
    return load_config_file(path, [this](const std::string& n) -> std::optional<std::string> {
      auto it = env_.find(n);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }
  // The key a ConfigError names, and its message.
  std::pair<std::string, std::string> error(const std::string& yaml) {
    try {
      load(yaml);
    } catch (const ConfigError& e) {
      return {e.key, e.what()};
    }
    return {"(accepted)", ""};
  }
};

TEST_F(Secrets, RestSecretsFileIsOneSecretPerLineNewestFirst) {
  std::string f = write("rest", "newest-secret\r\n\nolder-secret\n");
  auto c = load(kBase + "auth: { realm: r.test, rest_secrets_file: " + f + " }\n");
  EXPECT_EQ(c.auth.rest_secrets, (std::vector<std::string>{"newest-secret", "older-secret"}));
}

TEST_F(Secrets, TokenKeysFileAndAdminTokenFile) {
  std::string keys = write("keys", "0123456789abcdef-new\n0123456789abcdef-old");
  std::string token = write("token", "admin-token-0123456789\n");
  auto c = load(kBase + "auth: { users: { alice: wonderland } }\n" + kSfu + "  token_keys_file: " + keys +
                "\nadmin: { listen: 127.0.0.1:9641, token_file: " + token + " }\n");
  EXPECT_EQ(c.sfu.token_keys, (std::vector<std::string>{"0123456789abcdef-new", "0123456789abcdef-old"}));
  EXPECT_EQ(c.admin_token, "admin-token-0123456789");  // the trailing newline trimmed
}

TEST_F(Secrets, FilesAreReadAtEveryLoad) {
  std::string f = write("rest", "first-secret\n");
  std::string yaml = kBase + "auth: { rest_secrets_file: " + f + " }\n";
  EXPECT_EQ(load(yaml).auth.rest_secrets.front(), "first-secret");
  write("rest", "second-secret\nfirst-secret\n");
  EXPECT_EQ(load(yaml).auth.rest_secrets, (std::vector<std::string>{"second-secret", "first-secret"}));
}

TEST_F(Secrets, MissingEmptyOrDoubledFilesNameTheKey) {
  auto missing = error(kBase + "auth: { rest_secrets_file: " + (dir_ / "nope").string() + " }\n");
  EXPECT_EQ(missing.first, "auth.rest_secrets_file");
  EXPECT_NE(missing.second.find("nope"), std::string::npos) << missing.second;
  EXPECT_EQ(error(kBase + "auth: { rest_secrets_file: " + write("empty", "\n\n") + " }\n").first,
            "auth.rest_secrets_file");
  EXPECT_EQ(error(kBase + "auth: { rest_secrets: [a], rest_secrets_file: " + write("r", "b\n") + " }\n").first,
            "auth.rest_secrets_file");
  EXPECT_EQ(error(kBase + "auth: { users: { a: b } }\nadmin: { token_file: " + (dir_ / "none").string() + " }\n").first,
            "admin.token_file");
  EXPECT_EQ(error(kBase + "auth: { users: { a: b } }\nadmin: { token_file: " + write("t", "\n") + " }\n").first,
            "admin.token_file");
  EXPECT_EQ(error(kBase + "auth: { users: { a: b } }\n" + kSfu + "  token_keys_file: " + dir_.string() + "/x\n").first,
            "sfu.token_keys_file");
  EXPECT_EQ(error(kBase + "auth: { users: { a: b } }\nadmin: { token_file: [x] }\n").first, "admin.token_file");
  // What a file holds is checked as the inline key would be.
  EXPECT_EQ(error(kBase + "auth: { users: { a: b } }\nadmin: { token_file: " + write("s", "short\n") + " }\n").first,
            "admin.token");
}

TEST_F(Secrets, EnvironmentVariablesExpandInStringValues) {
  env_ = {{"TP_PASSWORD", "wonder land"}, {"TP_REALM", "example.org"}, {"TP_DIR", dir_.string()}};
  write("rest", "from-file\n");
  auto c = load(kBase + "auth:\n  realm: \"turn.${TP_REALM}\"\n  users: { alice: \"${TP_PASSWORD}\" }\n"
                        "  rest_secrets_file: \"${TP_DIR}/rest\"\n");
  EXPECT_EQ(c.auth.realm, "turn.example.org");
  EXPECT_EQ(c.auth.users.at("alice"), "wonder land");
  EXPECT_EQ(c.auth.rest_secrets.front(), "from-file");
}

TEST_F(Secrets, UnsetVariableNamesKeyAndVariable) {
  auto e = error(kBase + "auth: { users: { alice: \"${TP_UNSET}\" } }\n");
  EXPECT_EQ(e.first, "auth.users.alice");
  EXPECT_NE(e.second.find("TP_UNSET"), std::string::npos) << e.second;
  EXPECT_EQ(error(kBase + "auth: { users: { alice: \"${bad-name}\" } }\n").first, "auth.users.alice");
  EXPECT_EQ(error(kBase + "auth: { users: { alice: \"${OPEN\" } }\n").first, "auth.users.alice");
  EXPECT_EQ(error(kBase + "auth: { users: { alice: \"${}\" } }\n").first, "auth.users.alice");
  EXPECT_EQ(error(kBase + "auth: { users: { alice: b } }\nthreads: \"${TP_UNSET}\"\n").first, "threads");
}

TEST(ExpandEnv, EscapesAndPlainDollars) {
  EnvLookup env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "A") return "x${B}";  // values are not expanded again
    if (n == "EMPTY") return "";
    return std::nullopt;
  };
  EXPECT_EQ(expand_env("$${A}", "k", env), "${A}");
  EXPECT_EQ(expand_env("a$b$", "k", env), "a$b$");
  EXPECT_EQ(expand_env("${A}-${EMPTY}-$${A}", "k", env), "x${B}--${A}");
  EXPECT_EQ(expand_env("$$", "k", env), "$$");
  EXPECT_THROW(expand_env("${B}", "k", env), ConfigError);
}

}  // namespace
