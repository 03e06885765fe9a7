// libFuzzer's entry point for one target, chosen at build time with
// -DSC_FUZZ_TARGET=<function in targets.hpp> (see fuzz/meson.build).
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return sc::fuzz::SC_FUZZ_TARGET(data, size);
}
