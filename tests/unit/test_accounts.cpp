// Unit tests of sockchatd's accounts file parser, password check and crypt
// gate (server/accounts.hpp).  Hashes are made here with libcrypt's own
// crypt_gensalt_rn() and crypt_r(), except one fixed sha512crypt hash made
// by a different implementation (see kOpensslHash).
#include <crypt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "common/nickname.hpp"
#include "server/accounts.hpp"

using sc::server::AccountSet;
using sc::server::Accounts;

namespace {

// Made with `openssl passwd -6 -salt abcdefgh 'correct horse'` (OpenSSL
// 3.0): checks that libcrypt accepts what the README tells admins to run.
constexpr const char* kOpensslHash =
    "$6$abcdefgh$yIZAF3gQPvtKZO/9qOJKffAKKbtS3ef3qmwyugk4uWVjX8YZf/GV3A8SkFxEPY0T56CcilGrHKLffBsp6dLMG.";

// A fresh hash of `password` of the kind `prefix` ("$y$", "$6$", "$2b$"),
// at the cheapest cost that kind allows, so the tests stay quick.
std::string make_hash(const char* prefix, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  const unsigned long cost = std::string(prefix) == "$2b$" ? 4 : std::string(prefix) == "$6$" ? 1000 : 0;
  REQUIRE(crypt_gensalt_rn(prefix, cost, nullptr, 0, setting, sizeof setting) != nullptr);
  auto data = std::make_unique<crypt_data>();
  const char* h = crypt_r(password.c_str(), setting, data.get());
  REQUIRE(h != nullptr);
  REQUIRE(h[0] != '*');
  return h;
}

std::optional<AccountSet> parse(const std::string& text, std::string& why) {
  return AccountSet::parse(text, "accounts", why);
}

// The error for a file with `line` as its second line (after a good one).
std::string error_for(const std::string& line) {
  std::string why;
  const auto set = parse("alice:" + std::string(kOpensslHash) + "\n" + line + "\n", why);
  CHECK(!set.has_value());
  return why;
}

}  // namespace

TEST_CASE("accounts: name:hash lines, comments and blank lines") {
  const std::string bob = make_hash("$y$", "hunter2");
  std::string why;
  const auto set = parse("# sockchat accounts\n\nalice:" + std::string(kOpensslHash) +
                             "\r\n   \n  # indented comment\nbob:" + bob + "  \n",
                         why);
  REQUIRE_MESSAGE(set.has_value(), why);
  CHECK(set->size() == 2);
  REQUIRE(set->find("alice") != nullptr);
  CHECK(set->find("alice")->hash == kOpensslHash);
  REQUIRE(set->find("bob") != nullptr);
  CHECK(set->find("bob")->hash == bob);
  CHECK(set->find("Alice") == nullptr);  // names are exact, as logins are
  CHECK(set->find("carol") == nullptr);
}

TEST_CASE("accounts: an empty file is an empty set") {
  std::string why;
  const auto set = parse("# nobody yet\n", why);
  REQUIRE(set.has_value());
  CHECK(set->empty());
  CHECK(!sc::server::verify(*set, "alice", "correct horse"));
}

TEST_CASE("accounts: reserved keys cover case and look-alikes") {
  std::string why;
  const auto set = parse("alice:" + std::string(kOpensslHash) + "\n", why);
  REQUIRE(set.has_value());
  CHECK(set->reserves(sc::nickname::key("alice")));
  CHECK(set->reserves(sc::nickname::key("ALICE")));
  CHECK(set->reserves(sc::nickname::key("a1ice")));
  CHECK(!set->reserves(sc::nickname::key("bob")));
}

TEST_CASE("accounts: bad lines are errors naming file and line") {
  CHECK(error_for("bob") == "accounts:2: expected name:hash");
  CHECK(error_for(":" + std::string(kOpensslHash)) == "accounts:2: account name is empty");
  CHECK(error_for("bo b:" + std::string(kOpensslHash)).starts_with("accounts:2: account name contains whitespace"));
  CHECK(error_for("abcdefghijklmnopqrstuvwxyz0123456:" + std::string(kOpensslHash))
            .starts_with("accounts:2: account name is longer than 32 bytes"));
  CHECK(error_for("bob:") == "accounts:2: the hash is empty");
  // A look-alike name is refused on its own (Cyrillic a in a Latin name).
  CHECK(error_for("p\xd0\xb0ypal:" + std::string(kOpensslHash)).starts_with("accounts:2: account name: "));
}

TEST_CASE("accounts: duplicate and confusable names are refused") {
  CHECK(error_for("alice:" + std::string(kOpensslHash)) == "accounts:2: account 'alice' appears twice");
  CHECK(error_for("ALICE:" + std::string(kOpensslHash)) ==
        "accounts:2: account name 'ALICE' is confusable with an earlier one");
  CHECK(error_for("a1ice:" + std::string(kOpensslHash)) ==
        "accounts:2: account name 'a1ice' is confusable with an earlier one");
}

TEST_CASE("accounts: weak, locked and malformed hashes are refused") {
  const std::string kind_error = "accounts:2: the hash is not yescrypt";
  CHECK(error_for("bob:abJnggxhB/yWI").starts_with(kind_error));               // DES
  CHECK(error_for("bob:$1$abcdefgh$ZsWwyWEiN1bnHZOtsfn5e.").starts_with(kind_error));  // MD5
  CHECK(error_for("bob:$5$abcdefgh$O8/Bh5pTXr1cMHP2jyrvQXqxGxpz6Xq6i1/Xn0tJFZ5").starts_with(kind_error));
  CHECK(error_for("bob:$2a$04$abcdefghijklmnopqrstuu5Vw9cJbcW1pSA6M3uDQAX0/fcp8dXXG").starts_with(kind_error));
  CHECK(error_for("bob:*").starts_with(kind_error));
  CHECK(error_for("bob:!" + std::string(kOpensslHash)).starts_with(kind_error));
  CHECK(error_for("bob:$6$").starts_with("accounts:2: the hash is malformed"));
  CHECK(error_for("bob:$y$garbage").starts_with("accounts:2: the hash is malformed"));
  // Extra fields (a shadow line) make the hash malformed.
  CHECK(error_for("bob:" + std::string(kOpensslHash) + ":19000:0:99999:7:::")
            .starts_with("accounts:2: the hash is malformed"));
}

TEST_CASE("accounts: hash kinds") {
  CHECK(sc::server::hash_kind("$y$j9T$abc") == "$y$");
  CHECK(sc::server::hash_kind("$gy$j9T$abc") == "$gy$");
  CHECK(sc::server::hash_kind(kOpensslHash) == "$6$");
  CHECK(sc::server::hash_kind("$2b$05$abc") == "$2b$");
  CHECK(sc::server::hash_kind("$2a$05$abc").empty());
  CHECK(sc::server::hash_kind("$1$abc").empty());
  CHECK(sc::server::hash_kind("").empty());
}

TEST_CASE("accounts: passwords are checked with crypt_r, for every accepted kind") {
  CHECK(sc::server::password_matches("correct horse", kOpensslHash));
  CHECK(!sc::server::password_matches("correct horsE", kOpensslHash));
  CHECK(!sc::server::password_matches("", kOpensslHash));
  for (const char* kind : {"$y$", "$gy$", "$6$", "$2b$"}) {
    INFO(kind);
    const std::string h = make_hash(kind, "s3cret \xc3\xa9t\xc3\xa9");
    CHECK(sc::server::password_matches("s3cret \xc3\xa9t\xc3\xa9", h));
    CHECK(!sc::server::password_matches("s3cret ete", h));
  }
}

TEST_CASE("accounts: verify() is false for an unknown name even with another account's password") {
  std::string why;
  const auto set = parse("alice:" + std::string(kOpensslHash) + "\n", why);
  REQUIRE(set.has_value());
  CHECK(sc::server::verify(*set, "alice", "correct horse"));
  CHECK(!sc::server::verify(*set, "alice", "wrong"));
  // The dummy check runs against alice's hash: her password must not let
  // anyone in under a name that does not exist.
  CHECK(!sc::server::verify(*set, "mallory", "correct horse"));
}

TEST_CASE("accounts: loading a file; a failed reload keeps the old set; mode warning once") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("sockchat-accounts-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "accounts").string();
  std::ofstream(path) << "alice:" << kOpensslHash << "\n";
  chmod(path.c_str(), 0644);
  Accounts accounts(path);
  std::string why, warning;
  REQUIRE_MESSAGE(accounts.load(why, warning), why);
  CHECK(warning.find("readable by group or others") != std::string::npos);
  REQUIRE(accounts.current()->find("alice") != nullptr);

  std::ofstream(path) << "alice:" << kOpensslHash << "\nbob:$1$weak\n";
  warning.clear();
  CHECK(!accounts.load(why, warning));
  CHECK(why.starts_with(path + ":2: "));
  CHECK(accounts.current()->find("alice") != nullptr);  // the old set stays

  std::ofstream(path) << "bob:" << kOpensslHash << "\n";
  REQUIRE(accounts.load(why, warning));
  CHECK(warning.empty());  // said once
  CHECK(accounts.current()->find("alice") == nullptr);
  CHECK(accounts.current()->find("bob") != nullptr);

  std::filesystem::remove(path);
  CHECK(!accounts.load(why, warning));
  CHECK(why.starts_with("cannot read accounts file " + path));
  CHECK(accounts.current()->find("bob") != nullptr);
  std::filesystem::remove_all(dir);
}

TEST_CASE("crypt gate: at most N inside; a waiter enters when one leaves, or gives up") {
  sc::server::CryptGate gate(2);
  const auto never = [] { return false; };
  REQUIRE(gate.enter(never));
  REQUIRE(gate.enter(never));
  // Full: a waiter that is told to give up (a shutdown) returns false.
  int asked = 0;
  CHECK(!gate.enter([&] { return ++asked >= 3; }));
  CHECK(asked == 3);
  // A waiter gets in once a slot is left.
  std::atomic<bool> inside{false};
  std::thread waiter([&] {
    if (gate.enter(never)) inside = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(!inside);
  gate.leave();
  waiter.join();
  CHECK(inside);
}
