"""Einstein summation, `einsum("bij,bjk->bik", a, b)`, with its backward written as more einsums.

For an output O = einsum(s_1,...,s_n -> s_o) the gradient of operand k is the same sum with operand k swapped
for the output gradient: dA_k = einsum(s_o, s_j (j≠k) -> s_k)(dO, A_j). An index that occurs only in operand k
(it was summed away without meeting any other operand) does not occur on the right-hand side, so that einsum
cannot produce it: its gradient is broadcast along that index, since each such element entered the sum once.
"""
import numpy as np

from tinygrad_edu.autograd import ArrayFunction


def _parse(equation, n_operands):
    equation = equation.replace(" ", "")
    if "..." in equation:
        raise NotImplementedError("einsum: '...' (ellipsis) is not supported; name every dim")
    if "->" in equation:
        inputs, output = equation.split("->")
    else:
        inputs = equation
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))  # PyTorch's implicit output
    subscripts = inputs.split(",")
    if len(subscripts) != n_operands:
        raise ValueError(f"einsum: the equation names {len(subscripts)} operands but {n_operands} were given")
    for subs in subscripts:
        if len(set(subs)) != len(subs):
            raise NotImplementedError(f"einsum: a repeated index within one operand ({subs!r}, a diagonal) is not supported")
    return subscripts, output


class Einsum(ArrayFunction):
    """O = Σ over the indices missing from the output of Π_k A_k;  dA_k = einsum(dO, A_j≠k) broadcast (see module)."""

    @staticmethod
    def forward(ctx, *operands, subscripts, output):
        ctx.save_for_backward(*operands)
        ctx.subscripts, ctx.output = subscripts, output
        return np.einsum(",".join(subscripts) + "->" + output, *operands)

    @staticmethod
    def backward(ctx, grad_out):
        operands = ctx.saved_tensors
        grads = []
        for k, (subs_k, operand) in enumerate(zip(ctx.subscripts, operands)):
            if not ctx.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [(s, a) for j, (s, a) in enumerate(zip(ctx.subscripts, operands)) if j != k]
            known = set(ctx.output).union(*[set(s) for s, _ in others])
            reachable = "".join(c for c in subs_k if c in known)
            equation = ",".join([ctx.output] + [s for s, _ in others]) + "->" + reachable
            partial = np.einsum(equation, grad_out, *[a for _, a in others])
            # Re-insert the indices only operand k had (size-1 axes), then broadcast to its shape.
            expanded_shape = [operand.shape[i] if c in known else 1 for i, c in enumerate(subs_k)]
            grads.append(np.broadcast_to(partial.reshape(expanded_shape), operand.shape))
        return tuple(grads)


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    subscripts, output = _parse(equation, len(operands))
    for subs, operand in zip(subscripts, operands):
        if len(subs) != operand.ndim:
            raise ValueError(f"einsum: operand with subscripts {subs!r} has {operand.ndim} dims (shape {operand.shape})")
    dtype = operands[0].dtype
    if any(op.dtype != dtype for op in operands) or dtype.kind != "f":
        raise TypeError(f"einsum: operands must share one float dtype, got {[str(op.dtype) for op in operands]}")
    return Einsum.apply(*operands, subscripts=tuple(subscripts), output=output)
