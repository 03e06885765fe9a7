// Prints a run's results: a few human lines, or one JSON object.
#pragma once

#include "bench/options.hpp"
#include "bench/runner.hpp"

namespace sc::bench {

void print_text(const Options& o, const Results& r);
void print_json(const Options& o, const Results& r);

}  // namespace sc::bench
