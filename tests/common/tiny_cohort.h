// The phantom cohort the stage tests train on: a few tiny subjects, generated in a second.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "data/synth.h"

namespace ldae::testing {

// Empties DIR and writes DIR/cohort (manifest.csv and the scans): 6 phantom subjects at
// 16x20x16 (the tiny preset's image), one scan per entry of `visits` (months), no overview.
inline void make_tiny_cohort(const std::filesystem::path& dir, const std::vector<int64_t>& visits = {0}) {
  std::filesystem::remove_all(dir);
  data::SynthOptions so;
  so.out_dir = (dir / "cohort").string();
  so.subjects = 6;
  so.shape = {16, 20, 16};
  so.visits = visits;
  so.overview = false;
  data::generate_cohort(so);
}

}  // namespace ldae::testing
