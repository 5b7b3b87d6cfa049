"""Lesson 0: one number at a time -- a complete autograd for scalars, then the same network on tensors.

Every deep-learning engine answers one question: how does a number at the end (the loss L) change when a
number at the start (a weight w) moves a little? That is dL/dw, and the chain rule computes it one operation
at a time. If c = a * b and we already know dL/dc, then

    dL/da = dL/dc · dc/da = dL/dc · b          dL/db = dL/dc · a

Each operation only needs its own local derivative (dc/da = b) and the gradient that arrived from above. So:

  1. forward: compute every value, and let each result remember its inputs and its operation (a graph);
  2. order the graph so every node comes after the nodes it was computed from (a topological sort);
  3. backward: set dL/dL = 1 and visit the nodes in reverse order; each one passes its gradient to its inputs
     with its own local rule, adding (+=) to what they already hold, because a value used twice gets a
     gradient from both uses.

`Value` below is that whole engine for single numbers (after Andrej Karpathy's micrograd). The lesson checks it
on a small graph against derivatives worked out by hand, trains a two-layer network with it, and then builds the
same network, with the same weights, out of `tinygrad_edu.Tensor`s: the gradients agree to 12 digits. A Tensor
does exactly what Value does, only on a whole array per node instead of one number (lesson 1 writes out those
array rules). Run it with

    python docs/00_one_number_at_a_time.py
"""
import math
import random

import numpy as np

import tinygrad_edu as tg


# ----- 1. the engine: a scalar that remembers where it came from ----------------------------------------------
class Value:
    """One number, its gradient dL/d(this), and how to pass that gradient on to the numbers it was made from."""

    def __init__(self, data, inputs=(), op=""):
        self.data = float(data)
        self.grad = 0.0                     # dL/d(this value); filled in by backward()
        self._inputs = inputs               # the Values this one was computed from
        self._op = op                       # for printing: "+", "*", "tanh", ...
        self._backward = lambda: None       # passes self.grad on to the inputs (a leaf has nothing to do)

    def __repr__(self):
        return f"Value(data={self.data:.4f}, grad={self.grad:.4f})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():                    # out = a + b:  dout/da = 1, dout/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():                    # out = a · b:  dout/da = b, dout/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, exponent):
        assert isinstance(exponent, (int, float)), "only a constant exponent"
        out = Value(self.data ** exponent, (self,), f"**{exponent}")

        def _backward():                    # out = a^k:  dout/da = k · a^(k-1)
            self.grad += exponent * self.data ** (exponent - 1) * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():                    # out = tanh(a):  dout/da = 1 - tanh(a)²
            self.grad += (1.0 - t * t) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():                    # out = e^a:  dout/da = e^a
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    # Everything else is built from the primitives above, so it needs no backward rule of its own.
    def __neg__(self):                      # -a = a · (-1)
        return self * -1.0

    def __sub__(self, other):               # a - b = a + (-b)
        return self + (-other)

    def __truediv__(self, other):           # a / b = a · b^(-1)
        return self * other ** -1

    def __radd__(self, other):              # 2 + a, sum([...]) (which starts from 0)
        return self + other

    def __rmul__(self, other):              # 2 · a
        return self * other

    def __rsub__(self, other):              # 2 - a
        return Value(other) - self

    def topological_order(self):
        """Every Value this one depends on, each listed after all of its inputs (an iterative depth-first search)."""
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)           # all of its inputs are already in the list
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))   # come back to it once its inputs are ordered
                stack.extend((child, False) for child in node._inputs if child not in visited)
        return order

    def backward(self):
        """Fill in dL/dv for every Value v this one (L) was computed from."""
        # 1. order the graph; reversed, it visits every node before any of the nodes it was made from.
        order = self.topological_order()
        # 2. seed: dL/dL = 1.
        self.grad = 1.0
        # 3. reverse order: by the time a node runs its rule, every use of it has added to its grad.
        for node in reversed(order):
            node._backward()


# ----- 2. a graph small enough to differentiate by hand -----------------------------------------------------
# One neuron: o = tanh(x1·w1 + x2·w2 + b), with b = 6 + atanh(1/√2) ≈ 6.8814 so that n = -6 + b gives o = 1/√2.
x1, x2 = Value(2.0), Value(0.0)
w1, w2 = Value(-3.0), Value(1.0)
b = Value(6.0 + math.atanh(1 / math.sqrt(2)))
n = x1 * w1 + x2 * w2 + b
o = n.tanh()
order = o.topological_order()
position = {node: index for index, node in enumerate(order)}
assert len(order) == 10 and all(position[node] > position[child] for node in order for child in node._inputs)
print("backward visits the ops in the order:", [node._op for node in reversed(order) if node._op])
o.backward()
# By hand:  o = 1/√2, so do/dn = 1 - o² = 1/2 exactly, and each input of a product gets the other factor:
#   do/dw1 = x1 · 1/2 = 1      do/dx1 = w1 · 1/2 = -1.5
#   do/dw2 = x2 · 1/2 = 0      do/dx2 = w2 · 1/2 =  0.5      do/db = 1/2
by_hand = {"x1": -1.5, "x2": 0.5, "w1": 1.0, "w2": 0.0, "b": 0.5}
leaves = {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b}
assert math.isclose(o.data, 1 / math.sqrt(2), rel_tol=1e-12)
for name, value in leaves.items():
    assert math.isclose(value.grad, by_hand[name], rel_tol=1e-12, abs_tol=1e-15), (name, value.grad)
    print(f"do/d{name:<2} = {value.grad:+.6f}   (by hand {by_hand[name]:+})")

# The same neuron with tanh spelled out as (e^2n - 1)/(e^2n + 1): six ops (·2, exp, -1, +1, **-1, ·) in place of
# one tanh, and the same gradients -- a composite needs no backward of its own, the chain rule through its
# parts is enough.
for value in leaves.values():
    value.grad = 0.0
n = x1 * w1 + x2 * w2 + b
e = (2 * n).exp()
o_spelled_out = (e - 1) / (e + 1)
o_spelled_out.backward()
assert math.isclose(o_spelled_out.data, o.data, rel_tol=1e-12)
for name, value in leaves.items():
    assert math.isclose(value.grad, by_hand[name], rel_tol=1e-12, abs_tol=1e-12), (name, value.grad)

# A value used twice receives a gradient from each use; that is why every rule adds with += instead of =.
a = Value(3.0)
twice = a + a                               # d(a + a)/da = 2, not 1
twice.backward()
assert a.grad == 2.0
square = Value(3.0)
product = square * square                   # d(a·a)/da = 2a = 6
product.backward()
assert square.grad == 6.0
print("hand-built graphs: every gradient matches the hand calculation")


# ----- 3. a two-layer network learning a toy data set, one number at a time ---------------------------------
# XOR: points in the square [-1, 1]², label +1 where both coordinates have the same sign, -1 where they differ.
# No straight line separates the classes, so the hidden layer is needed. The network is lesson 1's,
# f(x) = tanh(x W1 + b1) W2 + b2, with the mean squared error against the ±1 labels; it predicts sign(f(x)).
random.seed(0)
N, D, H = 24, 2, 4
points = [[random.uniform(-1, 1), random.uniform(-1, 1)] for _ in range(N)]
labels = [1.0 if px * py > 0 else -1.0 for px, py in points]
W1 = [[Value(random.gauss(0, 1)) for _ in range(H)] for _ in range(D)]     # (D, H)
b1 = [Value(0.0) for _ in range(H)]                                       # (H,)
W2 = [[Value(random.gauss(0, 1) / math.sqrt(H))] for _ in range(H)]       # (H, 1)
b2 = [Value(0.0)]                                                         # (1,)
parameters = [w for row in W1 for w in row] + b1 + [w for row in W2 for w in row] + b2


def forward(point):
    hidden = [(sum(point[d] * W1[d][j] for d in range(D)) + b1[j]).tanh() for j in range(H)]
    return sum(hidden[j] * W2[j][0] for j in range(H)) + b2[0]


def loss_and_accuracy():
    outputs = [forward(point) for point in points]
    loss = sum((out - label) ** 2 for out, label in zip(outputs, labels)) / N
    correct = sum((out.data > 0) == (label > 0) for out, label in zip(outputs, labels))
    return loss, correct / N


learning_rate = 0.3
for step in range(100):
    loss, accuracy = loss_and_accuracy()
    for p in parameters:
        p.grad = 0.0                        # gradients add up (+=), so clear last step's first
    loss.backward()
    for p in parameters:
        p.data -= learning_rate * p.grad    # gradient descent: a small step downhill
    if step % 20 == 0:
        print(f"step {step:2d}  loss {loss.data:.4f}  accuracy {accuracy:.0%}")
final_loss, final_accuracy = loss_and_accuracy()
print(f"after training: loss {final_loss.data:.4f}, accuracy {final_accuracy:.0%} on {N} points")
assert final_accuracy >= 0.95, final_accuracy


# ----- 4. the same network, the same weights, on tinygrad_edu.Tensor ----------------------------------------
# Each Tensor holds a whole array of Values' numbers; the graph has one node per array operation instead of one
# per multiplication, and backward applies the array form of the same chain rule (float64, so it is tight).
for p in parameters:
    p.grad = 0.0
value_loss, _ = loss_and_accuracy()
value_loss.backward()

as_array = lambda rows: np.array([[v.data for v in row] for row in rows])   # noqa: E731
tensors = {
    "W1": tg.tensor(as_array(W1), dtype=tg.float64, requires_grad=True),
    "b1": tg.tensor([v.data for v in b1], dtype=tg.float64, requires_grad=True),
    "W2": tg.tensor(as_array(W2), dtype=tg.float64, requires_grad=True),
    "b2": tg.tensor([v.data for v in b2], dtype=tg.float64, requires_grad=True),
}
x = tg.tensor(points, dtype=tg.float64)                              # (N, D)
y = tg.tensor(labels, dtype=tg.float64).reshape(N, 1)                # (N, 1)
hidden = (x @ tensors["W1"] + tensors["b1"]).tanh()                  # (N, H)
output = hidden @ tensors["W2"] + tensors["b2"]                      # (N, 1)
tensor_loss = ((output - y) ** 2).mean()
tensor_loss.backward()

assert math.isclose(tensor_loss.item(), value_loss.data, rel_tol=1e-12)
value_grads = {"W1": [[v.grad for v in row] for row in W1], "b1": [v.grad for v in b1],
               "W2": [[v.grad for v in row] for row in W2], "b2": [v.grad for v in b2]}
for name, tensor in tensors.items():
    np.testing.assert_allclose(tensor.grad.numpy(), np.array(value_grads[name]), rtol=1e-12, atol=1e-15)
print(f"Value graph: {len(parameters)} parameters, one node per number; Tensor graph: 4 parameters, one node "
      f"per array op -- the same loss and the same gradients (float64, rtol 1e-12)")
print("lesson 0: scalar autograd, hand-checked gradients, training and the Tensor comparison passed")
