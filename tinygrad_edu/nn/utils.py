"""`torch.nn.utils` counterparts: gradient clipping (implemented in optim/clip.py) and parameter vectors."""
from tinygrad_edu.autograd import no_grad
from tinygrad_edu.ops.movement import concatenate
from tinygrad_edu.optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and joined into one 1-D tensor (differentiable, as PyTorch's)."""
    parameters = list(parameters)
    if not parameters:
        raise ValueError("parameters_to_vector: expected at least one parameter")
    return concatenate([param.reshape(-1) for param in parameters], 0)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D `vec` into each parameter, in place (the inverse of the above)."""
    if vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D vector, got shape {tuple(vec.shape)}")
    parameters = list(parameters)
    total = sum(param.numel() for param in parameters)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements but the parameters hold {total}")
    offset = 0
    with no_grad():
        for param in parameters:
            count = param.numel()
            param.copy_(vec[offset:offset + count].reshape(param.shape))
            offset += count
