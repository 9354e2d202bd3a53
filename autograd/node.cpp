#include "autograd/node.h"

#include "tensor/grad_mode.h"

namespace ldae {

SavedTensor::SavedTensor(const Tensor& t, std::string op)
    : tensor_(t.detach()), shape_(t.shape()), version_(t.storage()->version()), op_(std::move(op)) {}

const Tensor& SavedTensor::get() const {
  const uint64_t now = tensor_.storage()->version();
  if (now != version_)
    fail(op_, "a tensor of shape " + shape_str(shape_) +
                  " saved for the backward pass was modified in place (version " +
                  std::to_string(version_) + " -> " + std::to_string(now) +
                  "); compute on a copy (clone()) instead");
  return tensor_;
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending;
  for (Edge& e : inputs)
    if (e.node) pending.push_back(std::move(e.node));
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    // If we hold the last reference, take its inputs before it dies, so that its own
    // destructor finds nothing to release.
    if (node.use_count() == 1)
      for (Edge& e : node->inputs)
        if (e.node) pending.push_back(std::move(e.node));
  }
}

Tensor record(const std::string& op, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward) {
  if (!grad_mode_enabled()) return output;
  bool any = false;
  for (const Tensor& t : inputs) any = any || in_graph(t);
  if (!any) return output;

  auto node = std::make_shared<Node>();
  node->name = op;
  node->backward = std::move(backward);
  node->output_shape = output.shape();
  node->output_dtype = output.dtype();
  for (const Tensor& t : inputs) {
    Edge e;
    if (in_graph(t)) {
      if (t.grad_fn())
        e.node = t.grad_fn();
      else
        e.leaf = t.impl_ptr();
    }
    node->inputs.push_back(e);
  }
  // The result is a fresh handle (not `output` itself) so that a plain tensor the
  // caller still holds never acquires a graph behind its back.
  Tensor result = output.detach();
  result.impl().grad_fn = node;
  result.impl().requires_grad = true;
  return result;
}

}  // namespace ldae
