// Visible skips for the doctest binaries.
//
// meson counts exit status 77 as SKIP.  A test case that cannot run here
// (no ::1, no way to read the option it checks) calls
// sc::testing::skip("why") and returns; main() ends with
// sc::testing::exit_status(rc), which prints nothing more when a case
// failed (the failure wins) and otherwise turns a recorded skip into 77.
// A case that only logs and returns would be counted as a pass.
//
// A skip must not hide the results of other cases, so a case that can skip
// runs alone in its meson test: in a binary of its own (integration-ipv6,
// faults-keepalive) or picked out with a doctest filter (unit-net-ipv6).
// A run in which one case skipped and another ran fails and says so.
//
// Include it in the test files that call skip(); a main() includes it after
// defining DOCTEST_CONFIG_IMPLEMENT, which adds the case counter and
// exit_status().
#pragma once

#include <cstdio>
#include <string>

namespace sc::testing {

struct SkipState {
  int cases_run = 0;      // test cases started (subcase re-entries not counted)
  int cases_skipped = 0;  // of those, how many called skip()
  int last_skipped = -1;  // cases_run when skip() was last called
};

inline SkipState& skip_state() {
  static SkipState s;
  return s;
}

// Records that the running case cannot check anything here, and why.  The
// case must return right after.
inline void skip(const std::string& reason) {
  std::printf("SKIP: %s\n", reason.c_str());
  std::fflush(stdout);
  SkipState& s = skip_state();
  if (s.last_skipped != s.cases_run) {
    s.last_skipped = s.cases_run;
    ++s.cases_skipped;
  }
}

}  // namespace sc::testing

#ifdef DOCTEST_CONFIG_IMPLEMENT
namespace sc::testing {

// A doctest listener whose only job is to count the cases that start.
struct CaseCounter : doctest::IReporter {
  explicit CaseCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++skip_state().cases_run; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("sc-case-counter", 1, CaseCounter);

// main()'s exit status from doctest's: a failure stays a failure; a run
// whose every case skipped is 77; a skip beside cases that ran is an error.
inline int exit_status(int rc) {
  const SkipState& s = skip_state();
  if (rc != 0 || s.cases_skipped == 0) return rc;
  if (s.cases_run > s.cases_skipped) {
    std::fprintf(stderr,
                 "%d of %d test cases skipped: a case that can skip must run alone "
                 "(see tests/lib/skip.hpp)\n",
                 s.cases_skipped, s.cases_run);
    return 1;
  }
  std::printf("SKIP: every test case here skipped (exit 77)\n");
  return 77;
}

}  // namespace sc::testing
#endif
