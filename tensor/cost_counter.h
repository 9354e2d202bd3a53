// Counting what a piece of code costs, for `ldae model`'s summary: the multiply-adds of
// the matrix products and convolutions it runs, and the host/device memory its tensors
// take at the peak (bytes allocated in the scope and not yet freed, at most).
//
//   CountCosts counting;           // counts on this thread until it goes out of scope
//   Tensor y = net.forward(x);
//   counting.counts().multiply_adds  ...
//
// With `skip_products`, matmul and conv count their multiply-adds but write zeros instead of
// computing (the counts need only the shapes): a paper-sized network is counted in seconds.
// Everything after them then computes on zeros, so the outputs are meaningless.
//
// Only the calling thread is counted (ops allocate their outputs on the calling thread;
// OpenMP workers inside kernels allocate nothing). Scopes do not nest.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ldae {

struct CostCounts {
  double multiply_adds = 0;   // matmul: batches * n * k * m; conv: outputs * Cin/groups * kernel volume
  double allocated_bytes = 0; // every tensor allocated in the scope
  double live_bytes = 0;      // allocated in the scope minus freed in the scope, now
  double peak_live_bytes = 0; // the largest live_bytes seen
};

class CountCosts {
 public:
  // Throws ldae::Error if a scope is already counting on this thread.
  explicit CountCosts(bool skip_products = false);
  ~CountCosts();
  CountCosts(const CountCosts&) = delete;
  CountCosts& operator=(const CountCosts&) = delete;

  const CostCounts& counts() const { return counts_; }

 private:
  CostCounts counts_;
};

// Called by the ops and by Storage; no-ops when no scope counts on this thread.
namespace cost {
// true inside a CountCosts(true) scope: matmul and conv only zero their output.
bool skip_products();
void add_multiply_adds(double n);
void add_allocation(size_t bytes);
void add_release(size_t bytes);
}  // namespace cost

}  // namespace ldae
