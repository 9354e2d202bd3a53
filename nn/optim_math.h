// The optimizers' per-element update rules moved to tensor/optim_math.h, next to the
// fused update ops that run them on the CPU and the GPU (tensor/optim_update.h).
#pragma once
#include "tensor/optim_math.h"
