#include "tensor/cost_counter.h"

#include <algorithm>

#include "tensor/error.h"

namespace ldae {

namespace {
thread_local CostCounts* active = nullptr;  // the counting scope of this thread, if any
thread_local bool active_skips_products = false;
}  // namespace

CountCosts::CountCosts(bool skip_products) {
  check(active == nullptr, "CountCosts", "a counting scope is already active on this thread");
  active = &counts_;
  active_skips_products = skip_products;
}

CountCosts::~CountCosts() {
  active = nullptr;
  active_skips_products = false;
}

namespace cost {

bool skip_products() { return active_skips_products; }

void add_multiply_adds(double n) {
  if (active) active->multiply_adds += n;
}

void add_allocation(size_t bytes) {
  if (!active) return;
  active->allocated_bytes += static_cast<double>(bytes);
  active->live_bytes += static_cast<double>(bytes);
  active->peak_live_bytes = std::max(active->peak_live_bytes, active->live_bytes);
}

// A tensor allocated before the scope and freed inside it lowers live_bytes below the
// scope's own allocations; the peak only ever counts what the scope added.
void add_release(size_t bytes) {
  if (active) active->live_bytes -= static_cast<double>(bytes);
}

}  // namespace cost
}  // namespace ldae
