#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/error.h"
#include "tensor/philox.h"

namespace ldae::data {

BatchLoader::BatchLoader(const Manifest& manifest, std::vector<size_t> rows, LoaderOptions options)
    : manifest_(manifest), rows_(std::move(rows)), options_(std::move(options)) {
  const std::string op = "BatchLoader";
  check(options_.batch_size >= 1, op, "batch_size must be >= 1");
  check(options_.prefetch >= 0, op, "prefetch must be >= 0");
  for (size_t r : rows_)
    check(r < manifest_.rows.size(), op, "row " + std::to_string(r) + " is not in the manifest");
}

BatchLoader::~BatchLoader() { stop_worker(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = static_cast<int64_t>(rows_.size()), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void BatchLoader::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  ready_.clear();
  error_ = nullptr;
  stop_ = false;
  worker_done_ = false;
}

void BatchLoader::start_epoch(uint64_t epoch, int64_t first_batch) {
  check(first_batch >= 0 && first_batch <= batches_per_epoch(), "BatchLoader::start_epoch",
        "first_batch " + std::to_string(first_batch) + " is not in [0, " + std::to_string(batches_per_epoch()) + "]");
  stop_worker();
  order_ = rows_;
  if (options_.shuffle) {
    // Fisher-Yates from a Philox stream keyed by the seed, one stream per epoch.
    const uint64_t offset = (epoch + 1) << 32;
    for (size_t i = order_.size(); i-- > 1;) {
      const double u = philox::uniform(options_.seed, offset, i, true);  // (0, 1]
      const size_t j = std::min(i, static_cast<size_t>(std::ceil(u * static_cast<double>(i + 1))) - 1);
      std::swap(order_[i], order_[j]);
    }
  }
  next_batch_ = first_batch;
  if (options_.prefetch == 0) return;
  worker_ = std::thread([this, first_batch] {
    const int64_t n = batches_per_epoch();
    for (int64_t b = first_batch; b < n; ++b) {
      Batch batch;
      try {
        batch = load_batch(b);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::current_exception();
        worker_done_ = true;
        cv_.notify_all();
        return;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || static_cast<int64_t>(ready_.size()) < options_.prefetch; });
      if (stop_) return;
      ready_.push_back(std::move(batch));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    worker_done_ = true;
    cv_.notify_all();
  });
}

bool BatchLoader::next(Batch* batch) {
  check(!order_.empty() || rows_.empty(), "BatchLoader::next", "call start_epoch() first");
  if (next_batch_ >= batches_per_epoch()) return false;
  if (options_.prefetch == 0) {
    *batch = load_batch(next_batch_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return !ready_.empty() || worker_done_; });
  if (ready_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return false;
  }
  *batch = std::move(ready_.front());
  ready_.pop_front();
  ++next_batch_;
  cv_.notify_all();
  return true;
}

Batch BatchLoader::load_batch(int64_t b) const {
  const size_t begin = static_cast<size_t>(b * options_.batch_size);
  const size_t end = std::min(order_.size(), begin + static_cast<size_t>(options_.batch_size));
  Batch out;
  Shape item_shape;
  std::vector<Tensor> items;
  for (size_t i = begin; i < end; ++i) {
    const ManifestRow& row = manifest_.rows[order_[i]];
    const std::string where = manifest_.source + ":" + std::to_string(row.line) + ": ";
    Volume v;
    try {
      ReadOptions quiet;
      quiet.quiet = true;
      v = read_nifti(row.full_path, quiet);
      if (options_.transform) v = options_.transform(v);
    } catch (const std::exception& e) {
      fail("BatchLoader", where + e.what());
    }
    if (item_shape.empty()) item_shape = v.voxels.shape();
    check(v.voxels.shape() == item_shape, "BatchLoader",
          where + row.full_path + " has shape " + shape_str(v.voxels.shape()) + " but the batch has " +
              shape_str(item_shape) + " (preprocess the volumes to one shape)");
    items.push_back(v.voxels.contiguous());
    out.rows.push_back(order_[i]);
    out.labels.push_back(diagnosis_index(row.diagnosis));
    out.ages.push_back(row.age);
    out.sessions.push_back(row.session);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  out.images = Tensor::empty({n, 1, item_shape[0], item_shape[1], item_shape[2]}, DType::F32);
  const int64_t per = numel(item_shape);
  float* dst = out.images.mutable_data<float>();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * per, items[static_cast<size_t>(i)].data<float>(), static_cast<size_t>(per) * sizeof(float));
  return out;
}

Tensor to_axial_slices(const Tensor& volumes) {
  check(volumes.defined() && volumes.dim() == 5, "to_axial_slices",
        "expects (N, C, X, Y, Z), got " + (volumes.defined() ? shape_str(volumes.shape()) : std::string("undefined")));
  return volumes.permute({0, 1, 4, 2, 3}).contiguous();
}

Tensor from_axial_slices(const Tensor& slices) {
  check(slices.defined() && slices.dim() == 5, "from_axial_slices",
        "expects (N, C, Z, X, Y), got " + (slices.defined() ? shape_str(slices.shape()) : std::string("undefined")));
  return slices.permute({0, 1, 3, 4, 2}).contiguous();
}

}  // namespace ldae::data
