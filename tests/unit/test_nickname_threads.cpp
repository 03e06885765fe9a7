// sc::nickname from several threads at once, in a process of its own so that
// the threads also race to build the shared checker (the first call).  Run
// under TSan (build-tsan) this is the check that sharing one checker is safe.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/nickname.hpp"

namespace sc::test {
namespace {

struct Answer {
  std::string key;
  std::string refusal;
  bool operator==(const Answer&) const = default;
};

Answer ask(const std::string& nick) { return {nickname::key(nick), nickname::refusal(nick)}; }

TEST_CASE("key and refusal from several threads agree with one thread") {
  const std::vector<std::string> nicks = {"alice", "ALICE", "alic\u0435", "aIice", "Zoë", "李雷",
                                          "Ωmega", "Дмитрий", "bob\u200B", "p\u0430ypal",
                                          "山田_taro", "e\u0301\u0301"};
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  // answers[t][i]: what thread t got for nicks[i] each round, kept if they
  // ever differ.
  std::vector<std::vector<Answer>> answers(kThreads, std::vector<Answer>(nicks.size()));
  std::vector<int> changed(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (std::size_t n = 0; n < nicks.size(); ++n) {
          std::size_t i = (n + static_cast<std::size_t>(t) * 3) % nicks.size();
          Answer a = ask(nicks[i]);
          if (round > 0 && !(a == answers[t][i])) ++changed[t];
          answers[t][i] = a;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (std::size_t i = 0; i < nicks.size(); ++i) {
    CAPTURE(nicks[i]);
    Answer alone = ask(nicks[i]);
    for (int t = 0; t < kThreads; ++t) CHECK(answers[t][i] == alone);
  }
  for (int c : changed) CHECK(c == 0);
  // The answers are not all alike, so agreeing means something.
  CHECK(ask("alice").key == ask("ALICE").key);
  CHECK(ask("alice").refusal == "");
  CHECK(ask("bob\u200B").refusal != "");
}

}  // namespace
}  // namespace sc::test
