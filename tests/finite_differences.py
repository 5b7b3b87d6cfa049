"""Central finite differences, every element: the one numerical-gradient loop the kernel and device tests share.

    numerical_gradients(loss, arrays)[i][index] = (loss(.., a_i + eps at index, ..) - loss(.., a_i - eps, ..)) / 2eps

`loss` takes the arrays (float64, perturbed copies) and returns a scalar; the tests build it as sum(f(x) · c) with
a random cotangent c, so a backward that is wrong in any direction shows (a plain sum(f(x)) would miss e.g. a
softmax backward that returns zeros). The error is O(eps²) from truncation plus ≈ 1e-16·|loss| / eps from rounding
in float64: about 1e-10 relative to the loss's size at eps = 1e-6.
"""
import numpy as np


def numerical_gradients(loss, arrays, eps=1e-6):
    """d loss / d arrays[i] for every i and every element, by central differences (the arrays are not modified).

    >>> numerical_gradients(lambda a: float((a ** 2).sum()), [np.array([1.0, 2.0])])[0]
    array([2., 4.])
    """
    gradients = []
    for which, array in enumerate(arrays):
        gradient = np.zeros(np.shape(array))
        for index in np.ndindex(gradient.shape):
            values = []
            for step in (eps, -eps):
                shifted = [np.array(a, copy=True) for a in arrays]
                shifted[which][index] += step
                values.append(loss(*shifted))
            gradient[index] = (values[0] - values[1]) / (2 * eps)
        gradients.append(gradient)
    return gradients
