// Accounts of sockchatd (--accounts FILE): parsing the file, checking a
// password with libcrypt, and the set the connection threads share.
//
// The file holds one account per line, `name:hash`, where the hash is a
// crypt(3) string of a strong kind (yescrypt `$y$`, gost-yescrypt `$gy$`,
// sha512crypt `$6$`, bcrypt `$2b$`), as mkpasswd(1) or `openssl passwd -6`
// print it.  Blank lines and lines starting with `#` are ignored.  Names
// follow the nick rules and no two may be confusable, since an account's
// name becomes the nick of whoever signs in to it.  Anything else is an
// error naming file:line: a server refuses to start with such a file, and a
// reload (SIGHUP) keeps the previous set.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sc::server {

struct Account {
  std::string name;
  std::string hash;  // a crypt(3) string
};

class AccountSet {
 public:
  // Parses the text of an accounts file; `file` only names it in errors.
  // nullopt, with `why` = "FILE:LINE: reason", on the first bad line.
  static std::optional<AccountSet> parse(std::string_view text, std::string_view file,
                                         std::string& why);

  const Account* find(std::string_view name) const;
  // Whether an account's name has this nick key (see nick_key()).
  bool reserves(const std::string& key) const { return keys_.contains(key); }
  std::size_t size() const { return accounts_.size(); }
  bool empty() const { return accounts_.empty(); }
  // What an unknown name is checked against, so that it costs what a known
  // one costs: the first account's hash (same kind and cost parameters).
  const std::string& dummy_hash() const { return accounts_.front().hash; }

 private:
  std::vector<Account> accounts_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::unordered_set<std::string> keys_;
};

// The accepted crypt prefix `hash` starts with ("$y$"), or empty.
std::string_view hash_kind(std::string_view hash);

// crypt_r(password, hash) equals hash, compared in constant time.  Costs
// what the hash's kind costs (yescrypt: tens of ms and 16 MiB by default),
// on the calling thread.
bool password_matches(std::string_view password, const std::string& hash);

// Checks `password` for account `name`: false for a wrong password and for
// an unknown name alike, and an unknown name runs crypt_r too (against the
// dummy hash), so the time taken does not tell which names exist.
bool verify(const AccountSet& set, std::string_view name, std::string_view password);

// Bounds how many password checks run at once: a yescrypt check takes
// 16 MiB and tens of ms of CPU, so a thousand simultaneous AUTHs must not
// take 16 GiB.  A connection thread waits for a slot (only that connection
// waits) and gives up when `give_up` says so, checked every 50 ms: a
// server shutdown is not held up by a queue of sign-ins.
class CryptGate {
 public:
  explicit CryptGate(unsigned slots) : free_(slots) {}
  bool enter(const std::function<bool()>& give_up);
  void leave();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned free_;
};

// The file named by --accounts, shared by the connection threads and
// replaced by the main thread on SIGHUP.
class Accounts {
 public:
  explicit Accounts(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  // Reads and parses the file; on failure keeps the current set and says
  // why.  `warning` is set (once per Accounts) when others can read it.
  bool load(std::string& why, std::string& warning);
  std::shared_ptr<const AccountSet> current() const;

 private:
  const std::string path_;
  bool warned_mode_ = false;  // main thread only
  mutable std::mutex mu_;
  std::shared_ptr<const AccountSet> set_;
};

}  // namespace sc::server
