// The autograd graph. Every differentiable op that sees an input requiring grad
// returns its result with a Node: the node remembers where the gradient of each input
// must go (an Edge) and how to compute those gradients (the backward formula).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ldae {

// Where the gradient for one input of a node goes: into the node that produced the
// input, or into the `.grad` of a leaf. Both empty: the input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  bool needed() const { return node != nullptr || leaf != nullptr; }
};

// A tensor kept for the backward pass, with the storage version at the time it was
// saved: if the tensor is modified in place before backward, get() throws instead of
// returning a silently wrong gradient.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, std::string op);
  const Tensor& get() const;  // throws Error if the storage version changed
  const Shape& shape() const { return shape_; }
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;  // a detached alias: same storage, no graph (so no reference cycles)
  Shape shape_;
  uint64_t version_ = 0;
  std::string op_;
};

// A backward formula: given dL/d(output) and which inputs need a gradient, returns
// dL/d(input i) for each input (undefined where not needed).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output,
                                                     const std::vector<bool>& needs_grad)>;

struct Node {
  std::string name;          // the op, for error messages and graph printing
  std::vector<Edge> inputs;  // one per op input
  // The formula, holding the tensors it saved. backward() empties it after running it
  // (unless asked to retain the graph), which frees those tensors; `released` then
  // records that this node can no longer be differentiated through.
  BackwardFn backward;
  bool released = false;
  Shape output_shape;
  DType output_dtype = DType::F32;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the chain of input nodes iteratively: the default destructor would recurse
  // once per node and overflow the stack on a graph 100 000 ops deep.
  ~Node();
};

// Wraps `output` (computed by a plain op from `inputs`) into the graph: if grad mode is
// on and some input requires grad, attaches a Node named `op` with `backward`.
// Returns `output` either way. Used by every ag:: op.
Tensor record(const std::string& op, const Tensor& output, const std::vector<Tensor>& inputs,
              BackwardFn backward);

// True if `t` takes part in autograd (a leaf that requires grad, or an op result whose
// inputs did).
inline bool in_graph(const Tensor& t) { return t.defined() && t.requires_grad(); }

}  // namespace ldae
