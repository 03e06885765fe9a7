// Helpers of the sign-in tests: an accounts file in a private temp dir,
// with hashes made at test time by libcrypt (crypt_gensalt_rn + crypt_r),
// and AUTH requests.
#pragma once

#include <crypt.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "harness.hpp"
#include "tls_client.hpp"  // log_shows(), and TLS clients for AUTH over TLS

namespace sc::itest {

// A hash of `password` of kind `prefix`.  sha512crypt at its cheapest
// (1000 rounds) keeps sanitizer runs quick; "$y$" gets libcrypt's default
// cost, as `mkpasswd -m yescrypt` would.
inline std::string hash_of(const std::string& password, const char* prefix = "$6$") {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  const unsigned long cost = std::string(prefix) == "$6$" ? 1000 : 0;
  if (crypt_gensalt_rn(prefix, cost, nullptr, 0, setting, sizeof setting) == nullptr) {
    throw std::runtime_error("crypt_gensalt_rn failed");
  }
  auto data = std::make_unique<crypt_data>();
  const char* h = crypt_r(password.c_str(), setting, data.get());
  if (h == nullptr || h[0] == '*') throw std::runtime_error("crypt_r failed");
  return h;
}

// An accounts file; rewritten atomically (rename), as an editor would.
class AccountsFile {
 public:
  explicit AccountsFile(const std::string& text) {
    std::string templ = (std::filesystem::temp_directory_path() / "sockchat-auth-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    path_ = dir_ + "/accounts";
    write(text);
  }
  ~AccountsFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  AccountsFile(const AccountsFile&) = delete;
  AccountsFile& operator=(const AccountsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  void write(const std::string& text) const {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::permissions(tmp, std::filesystem::perms::owner_read |
                                          std::filesystem::perms::owner_write);
    std::filesystem::rename(tmp, path_);
  }

 private:
  std::string dir_;
  std::string path_;
};

inline Bytes auth_payload(const std::string& account, const std::string& password) {
  Bytes b;
  put_auth(b, AuthRequest{account, password});
  return b;
}

}  // namespace sc::itest
