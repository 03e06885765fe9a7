#include "server/accounts.hpp"

#include <crypt.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/codec.hpp"
#include "server/nick_policy.hpp"

namespace sc::server {
namespace {

// Kinds a sign-in may be checked against, and the length of the part after
// the last '$' of a full hash (bcrypt: salt and hash in one).  DES, MD5
// ($1$), SHA-256 ($5$) and the older bcrypt variants are refused: too cheap
// or flawed.  A locked entry (`*`, `!...`) has no valid prefix either.
struct Kind {
  std::string_view prefix;
  std::size_t tail;
};
constexpr Kind kKinds[] = {{"$y$", 43}, {"$gy$", 43}, {"$6$", 86}, {"$2b$", 53}};

// crypt(3)'s alphabet, and '$' and '=' of the setting ("rounds=5000$").
bool crypt_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '/' || c == '$' || c == '=';
  });
}

// A whole hash, not just a setting: libcrypt's crypt_checksalt() only looks
// at the method and its parameters, and would take "$6$" or a shadow line.
bool well_formed(std::string_view hash, const Kind& kind) {
  const std::size_t last = hash.rfind('$');
  return crypt_chars(hash) && last >= kind.prefix.size() && hash.size() - last - 1 == kind.tail &&
         crypt_checksalt(std::string(hash).c_str()) == CRYPT_SALT_OK;
}

const Kind* kind_of(std::string_view hash) {
  for (const Kind& k : kKinds) {
    if (hash.starts_with(k.prefix)) return &k;
  }
  return nullptr;
}

constexpr std::string_view kBlanks = " \t\r";

std::string_view trim_end(std::string_view s) {
  const std::size_t end = s.find_last_not_of(kBlanks);
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}

bool ignorable(std::string_view line) {
  const std::size_t first = line.find_first_not_of(kBlanks);
  return first == std::string_view::npos || line[first] == '#';
}

// Empty when `name` may name an account, else why not.
std::string name_refusal(std::string_view name) {
  std::string_view why;
  if (check_account(name, &why) != Status::Ok) return std::string(why);
  if (std::string refused = nick_refusal(name); !refused.empty()) {
    return "account name: " + refused;
  }
  return {};
}

// Empty when `hash` is a well-formed crypt string of an accepted kind.
std::string hash_refusal(std::string_view hash) {
  if (hash.empty()) return "the hash is empty";
  const Kind* kind = kind_of(hash);
  if (kind == nullptr) {
    return "the hash is not yescrypt ($y$), gost-yescrypt ($gy$), sha512crypt ($6$) or "
           "bcrypt ($2b$); make one with 'mkpasswd -m yescrypt' or 'openssl passwd -6'";
  }
  if (!well_formed(hash, *kind)) return "the hash is malformed (not a whole crypt(3) hash)";
  return {};
}

}  // namespace

std::string_view hash_kind(std::string_view hash) {
  const Kind* kind = kind_of(hash);
  return kind == nullptr ? std::string_view() : kind->prefix;
}

std::optional<AccountSet> AccountSet::parse(std::string_view text, std::string_view file,
                                            std::string& why) {
  AccountSet set;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    const std::string_view line = trim_end(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (ignorable(line)) continue;
    const auto fail = [&](const std::string& reason) {
      why = fmt::format("{}:{}: {}", file, line_no, reason);
      return std::nullopt;
    };
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail("expected name:hash");
    const std::string_view name = line.substr(0, colon);
    const std::string_view hash = line.substr(colon + 1);
    if (std::string r = name_refusal(name); !r.empty()) return fail(r);
    if (std::string r = hash_refusal(hash); !r.empty()) return fail(r);
    if (set.by_name_.contains(std::string(name))) {
      return fail(fmt::format("account '{}' appears twice", name));
    }
    if (!set.keys_.insert(nick_key(name)).second) {
      return fail(fmt::format("account name '{}' is confusable with an earlier one", name));
    }
    set.by_name_.emplace(std::string(name), set.accounts_.size());
    set.accounts_.push_back({std::string(name), std::string(hash)});
  }
  return set;
}

const Account* AccountSet::find(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &accounts_[it->second];
}

bool password_matches(std::string_view password, const std::string& hash) {
  // 32 KiB: on the heap, not on a connection thread's small stack.
  auto data = std::make_unique<crypt_data>();
  const std::string phrase(password);
  const char* out = crypt_r(phrase.c_str(), hash.c_str(), data.get());
  // libxcrypt fails with a null pointer or a string starting with '*'.
  if (out == nullptr || out[0] == '*') return false;
  const std::size_t n = std::strlen(out);
  const bool same = n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
  // The hash of the password stays in the buffer: wipe it.
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return same;
}

bool verify(const AccountSet& set, std::string_view name, std::string_view password) {
  if (set.empty()) return false;
  const Account* a = set.find(name);
  const bool matches = password_matches(password, a != nullptr ? a->hash : set.dummy_hash());
  return a != nullptr && matches;
}

bool CryptGate::enter(const std::function<bool()>& give_up) {
  std::unique_lock lock(mu_);
  while (free_ == 0) {
    if (give_up()) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
  --free_;
  return true;
}

void CryptGate::leave() {
  {
    std::lock_guard lock(mu_);
    ++free_;
  }
  cv_.notify_one();
}

namespace {

// The file's text, or nullopt with `why`.  Also says whether others may
// read it (mode & 044), which an accounts file should not allow.
std::optional<std::string> read_accounts_file(const std::string& path, bool& readable_by_others,
                                              std::string& why) {
  std::ifstream in(path, std::ios::binary);
  struct stat st{};
  if (!in || stat(path.c_str(), &st) != 0) {
    why = fmt::format("cannot read accounts file {}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  readable_by_others = (st.st_mode & 044) != 0;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    why = fmt::format("cannot read accounts file {}: read error", path);
    return std::nullopt;
  }
  return std::move(text).str();
}

}  // namespace

bool Accounts::load(std::string& why, std::string& warning) {
  bool open = false;
  const std::optional<std::string> text = read_accounts_file(path_, open, why);
  if (!text) return false;
  std::optional<AccountSet> parsed = AccountSet::parse(*text, path_, why);
  if (!parsed) return false;
  if (open && !warned_mode_) {
    warned_mode_ = true;
    warning = fmt::format("accounts file {} is readable by group or others (chmod 600 it): "
                          "password hashes can be attacked offline",
                          path_);
  }
  auto set = std::make_shared<const AccountSet>(std::move(*parsed));
  std::lock_guard lock(mu_);
  set_ = std::move(set);
  return true;
}

std::shared_ptr<const AccountSet> Accounts::current() const {
  std::lock_guard lock(mu_);
  return set_;
}

}  // namespace sc::server
