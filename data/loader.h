// The batch loader: turns manifest rows into (N, 1, D, H, W) tensors, shuffled from a
// seed, with the next batch read in a background thread while the current one is used.
// Also the 2.5D "axial" layout the semantic encoder reads (ldae-reference 1.6).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/manifest.h"
#include "data/nifti.h"

namespace ldae::data {

struct Batch {
  Tensor images;                 // (N, 1, D, H, W) f32, D H W = the volumes' X Y Z
  std::vector<size_t> rows;      // manifest row of each item
  std::vector<int> labels;       // diagnosis_index(): AD 0, CN 1, MCI 2
  std::vector<double> ages;      // NaN when unknown
  std::vector<int64_t> sessions; // months
};

struct LoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = true;      // a new order every epoch, from (seed, epoch)
  uint64_t seed = 0;
  bool drop_last = false;   // skip a last, smaller batch
  int64_t prefetch = 2;     // batches read ahead in the background (0: read on demand)
  // Applied to every volume after reading (e.g. preprocess or min-max scaling); its
  // result must have the same shape for every row. Null: the file's voxels as they are.
  std::function<Volume(const Volume&)> transform;
};

// Usage:
//   BatchLoader loader(manifest, split.train, options);
//   for (int epoch = 0; epoch < n; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch b;
//     while (loader.next(&b)) { ... b.images ... }
//   }
// Errors while reading (a bad file, a shape mismatch) are thrown from next(), naming the
// manifest line and the file.
class BatchLoader {
 public:
  BatchLoader(const Manifest& manifest, std::vector<size_t> rows, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts (or restarts) an epoch: fixes its order and begins prefetching. first_batch > 0
  // skips the epoch's first batches without reading them (a run resumed mid-epoch).
  void start_epoch(uint64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch; false when the epoch is over.
  bool next(Batch* batch);
  int64_t batches_per_epoch() const;
  // The row order of the current epoch (for tests).
  const std::vector<size_t>& order() const { return order_; }

 private:
  Batch load_batch(int64_t b) const;
  void stop_worker();

  Manifest manifest_;
  std::vector<size_t> rows_;
  LoaderOptions options_;
  std::vector<size_t> order_;
  int64_t next_batch_ = 0;  // the next batch next() returns

  // Background prefetching: the worker loads batches in order into `ready_`.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  bool worker_done_ = false;
};

// The 2.5D layout: (N, C, X, Y, Z) -> (N, C, Z, X, Y), so that the first spatial axis
// walks the axial slices (each an X x Y image). Returns a contiguous copy.
Tensor to_axial_slices(const Tensor& volumes);
// The inverse: (N, C, Z, X, Y) -> (N, C, X, Y, Z).
Tensor from_axial_slices(const Tensor& slices);

}  // namespace ldae::data
