// Replays saved inputs through the fuzz targets, built with the normal
// flags: every crash a fuzzer found stays fixed, and every seed of the
// corpus keeps passing the targets' invariants.
//
//   fuzz-replay [--all] DIR...
// Each DIR holds one folder per target, named as in fuzz/targets.hpp
// (tests/fuzz-regress/frame/..., fuzz/corpus/nick/...); every file in those
// folders is one input.  After --all, every target must have inputs in each
// DIR (the seed corpus: scripts/fuzz runs the targets it has folders for).
// A broken invariant traps, after the input's path was printed.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/targets.hpp"

namespace fs = std::filesystem;

namespace {

const sc::fuzz::NamedTarget* find_target(const std::string& name) {
  for (const auto& t : sc::fuzz::kTargets)
    if (name == t.name) return &t;
  return nullptr;
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replays one target's folder; returns the number of inputs.
std::size_t replay_folder(const sc::fuzz::NamedTarget& t, const fs::path& dir) {
  std::size_t n = 0;
  for (const fs::path& p : sorted_entries(dir)) {
    if (!fs::is_regular_file(p)) continue;
    const std::vector<std::uint8_t> data = read_file(p);
    std::printf("%s (%zu bytes)\n", p.c_str(), data.size());
    std::fflush(stdout);
    t.run(data.data(), data.size());
    ++n;
  }
  return n;
}

// Replays every target folder under `root`; -1 on an unknown folder, or on
// a target without inputs when `all` targets must have some.
long replay_root(const fs::path& root, bool all) {
  long n = 0;
  std::size_t targets_seen = 0;
  for (const fs::path& dir : sorted_entries(root)) {
    if (!fs::is_directory(dir)) continue;
    const sc::fuzz::NamedTarget* t = find_target(dir.filename().string());
    if (!t) {
      std::fprintf(stderr, "fuzz-replay: %s names no fuzz target\n", dir.c_str());
      return -1;
    }
    const std::size_t inputs = replay_folder(*t, dir);
    targets_seen += inputs > 0;
    n += static_cast<long>(inputs);
  }
  if (all && targets_seen != std::size(sc::fuzz::kTargets)) {
    std::fprintf(stderr, "fuzz-replay: %s has inputs for %zu of %zu targets\n", root.c_str(),
                 targets_seen, std::size(sc::fuzz::kTargets));
    return -1;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  long total = 0;
  bool all = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--all") == 0) {
      all = true;
      continue;
    }
    const long n = replay_root(argv[i], all);
    if (n < 0) return 1;
    std::printf("fuzz-replay: %ld inputs from %s\n", n, argv[i]);
    total += n;
  }
  // No input at all means a wrong path, not a pass.
  if (total == 0) {
    std::fprintf(stderr, "fuzz-replay: no inputs found\n");
    return 1;
  }
  std::printf("fuzz-replay: %ld inputs replayed, all invariants held\n", total);
  return 0;
}
