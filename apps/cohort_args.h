// The options that describe a synthetic cohort's scans, shared by `ldae synth` and `ldae demo`.
#pragma once
#include <CLI/CLI.hpp>

#include "data/synth.h"

namespace ldae::app {

// Adds --registered and --preprocessed (they exclude each other); each sets `target`
// (data::Preprocessing, data/synth.h), which stays as it is when neither is given.
void add_preprocessing_flags(CLI::App* sub, data::Preprocessing& target);

}  // namespace ldae::app
