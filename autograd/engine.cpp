#include "autograd/engine.h"

#include <unordered_map>
#include <utility>
#include <vector>

#include "autograd/no_grad.h"
#include "autograd/node.h"
#include "tensor/ops.h"

namespace ldae::ag {

namespace {

// Nodes reachable from `root`, ordered so that every node comes before the nodes that
// produced its inputs (reverse post-order of an iterative depth-first search).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};  // (node, next input to visit)
  visited[root] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].node.get();
      if (child && !visited[child]) {
        visited[child] = true;
        stack.push_back({child, 0});
      }
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return std::vector<Node*>(post_order.rbegin(), post_order.rend());
}

// True when nothing but the caller's reference can see g's elements: its TensorImpl has one owner
// and its storage one TensorImpl (no view, no saved tensor, no other gradient shares it).
bool sole_owner(const Tensor& g) {
  return g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1;
}

void accumulate_into_leaf(TensorImpl& leaf, const Tensor& g) {
  if (leaf.grad) {
    leaf.grad = ldae::add(Tensor(leaf.grad), g).impl_ptr();
  } else if (sole_owner(g) && g.is_contiguous() && g.offset() == 0) {
    // A fresh buffer that only this gradient uses (the usual result of a backward formula):
    // the leaf takes it as it is, as PyTorch does, instead of copying it.
    leaf.grad = g.impl_ptr();
  } else {
    // Own copy: g may alias another leaf's gradient, the caller's grad_output or a buffer of
    // the graph.
    leaf.grad = g.clone().impl_ptr();
  }
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad_output, const BackwardOptions& options) {
  check(root.defined(), "backward", "undefined tensor");
  check(in_graph(root), "backward",
        "the tensor does not require grad (no input of its graph was marked requires_grad, or "
        "it was computed under NoGrad)");
  NoGrad no_grad;  // the backward formulas themselves are not recorded
  Tensor g = grad_output;
  if (!g.defined()) {
    check(root.numel() == 1, "backward",
          "grad_output can be omitted only for a one-element output, got shape " +
              shape_str(root.shape()));
    g = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  check(g.shape() == root.shape() && g.dtype() == root.dtype(), "backward",
        "grad_output " + shape_str(g.shape()) + " " + dtype_name(g.dtype()) +
            " does not match the output " + shape_str(root.shape()) + " " +
            dtype_name(root.dtype()));

  if (!root.grad_fn()) {  // the root is itself a leaf
    accumulate_into_leaf(root.impl(), g);
    return;
  }
  const std::vector<Node*> order = topological_order(root.grad_fn().get());
  // Refuse a freed graph before touching any gradient, so that a failed call leaves
  // every grad() as it was (no half-accumulated pass).
  for (const Node* node : order)
    if (node->released)
      fail("backward",
           "trying to backward through the graph a second time: the node of '" + node->name +
               "' already freed its saved tensors in an earlier backward. Specify retain_graph=true "
               "(ag::BackwardOptions) on the first backward if you need a second pass, or "
               "recompute the forward pass");

  std::unordered_map<Node*, Tensor> pending;  // gradient w.r.t. each node's output
  pending[root.grad_fn().get()] = g;
  for (Node* node : order) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // no gradient reached this node
    const Tensor grad = it->second;
    pending.erase(it);  // free it as soon as it is used

    std::vector<bool> needs(node->inputs.size());
    for (size_t i = 0; i < needs.size(); ++i) needs[i] = node->inputs[i].needed();
    const std::vector<Tensor> input_grads = node->backward(grad, needs);
    if (!options.retain_graph) {
      node->backward = nullptr;  // destroys the closure and the tensors it saved
      node->released = true;
    }
    check(input_grads.size() == node->inputs.size(), node->name,
          "backward returned the wrong number of gradients");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& edge = node->inputs[i];
      const Tensor& gi = input_grads[i];
      if (!edge.needed() || !gi.defined()) continue;
      if (edge.node) {
        check(gi.shape() == edge.node->output_shape, node->name,
              "backward produced a gradient of shape " + shape_str(gi.shape()) +
                  " for an input of shape " + shape_str(edge.node->output_shape));
        Tensor& slot = pending[edge.node.get()];
        slot = slot.defined() ? ldae::add(slot, gi) : gi;
      } else {
        check(gi.shape() == edge.leaf->shape, node->name,
              "backward produced a gradient of shape " + shape_str(gi.shape()) +
                  " for a leaf of shape " + shape_str(edge.leaf->shape));
        accumulate_into_leaf(*edge.leaf, gi);
      }
    }
  }
}

}  // namespace ldae::ag
