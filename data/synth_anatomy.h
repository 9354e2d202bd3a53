// The base anatomy of the synthetic cohort: tissue probability maps (grey matter, white
// matter, cerebrospinal fluid) and two structure labels (lateral ventricles, hippocampi)
// on one RAS grid in MNI-like world coordinates (mm). It comes either from a template
// (a T1 with grey- and white-matter maps, e.g. MNI ICBM152 2009a) or from a procedural
// phantom built from ellipsoids and folded sheets, so that the program runs with no files.
#pragma once
#include <string>
#include <vector>

#include "data/affine.h"

namespace ldae::data {

// Channels of an Anatomy, stored interleaved per voxel so that one trilinear lookup
// reads all of them from neighbouring memory.
enum AnatomyChannel { kGM = 0, kWM = 1, kCSF = 2, kVentricle = 3, kHippocampus = 4, kSulcal = 5, kChannels = 6 };

struct Anatomy {
  std::string source;                       // "phantom" or the template T1's path
  Affine affine;                            // grid voxel -> world mm (RAS)
  int64_t nx = 0, ny = 0, nz = 0;
  // (nx, ny, nz, kChannels) row-major. GM/WM/CSF are probabilities summing to <= 1
  // (0 outside the brain); ventricle/hippocampus are 0..1 structure labels (soft edges);
  // sulcal is 0..1, high where grey matter borders CSF (where cortical atrophy shows).
  std::vector<float> maps;
  Vec3 brain_centre{{0, -18, 12}};          // world mm
  // Centres (world mm) of the two lateral ventricles and the two hippocampi, left first;
  // the atrophy deformations are centred there.
  Vec3 ventricle_centre[2];
  Vec3 hippocampus_centre[2];

  float* voxel(int64_t i, int64_t j, int64_t k) { return &maps[static_cast<size_t>(((i * ny + j) * nz + k) * kChannels)]; }
  const float* voxel(int64_t i, int64_t j, int64_t k) const {
    return &maps[static_cast<size_t>(((i * ny + j) * nz + k) * kChannels)];
  }
  // Trilinear lookup of all channels at world position w (zeros outside the grid).
  void sample(const Vec3& w, const Affine& world_to_voxel, float out[kChannels]) const;
};

// The procedural phantom on a grid of `spacing` mm: an ellipsoidal brain with a folded
// cortex (sulci as CSF sheets), white matter, a midline fissure, lateral ventricles,
// thalami and hippocampi at their MNI positions. Deterministic (no randomness).
Anatomy phantom_anatomy(double spacing = 1.5);

// A template anatomy from a T1 (brain-extracted: 0 outside the brain) and grey/white
// matter probability maps on the same grid (uint8 maps with 255 = 1 are rescaled; maps
// already in [0, 1] are kept). CSF = brain mask - GM - WM. Ventricles: the connected CSF
// region grown from the MNI positions of the lateral ventricles inside a central box;
// hippocampi: grey matter inside ellipsoids at their MNI positions. So the template must
// be in MNI space. Throws Error if the three files do not share one grid.
Anatomy template_anatomy(const std::string& t1_path, const std::string& gm_path, const std::string& wm_path);

}  // namespace ldae::data
