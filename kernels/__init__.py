"""Compiled kernels: pure functions over NumPy arrays and scalars. This package never imports tinygrad_edu.

Two kernel sets with one interface, side by side, one module per op family:

    kernels/reference/<family>.py   plain NumPy, the oracle
    kernels/cpu/<family>.py         Numba, @njit(cache=True) with prange, each compiled twice (parallel and serial,
                                    see kernels/cpu/variants.py) and picked by the size of the call

Families and functions (float32 or float64 in, the same dtype out; inputs may be non-contiguous):
    matmul     matmul(a (B,M,K), b (B,K,N)) -> (B,M,N)
    conv       conv2d_forward(x, w, b, stride, padding, dilation, groups) -> y
               conv2d_backward(x, w, grad_y, stride, padding, dilation, groups, need_input, need_weight, need_bias)
    pool       max_pool2d_forward(x, kernel_size, stride, padding) -> (y, argmax); max_pool2d_backward(grad_y, argmax, input_shape)
               avg_pool2d_forward(x, kernel_size, stride, padding); avg_pool2d_backward(grad_y, input_shape, kernel_size, stride, padding)
    softmax    softmax_forward/backward, log_softmax_forward/backward over the last axis;
               cross_entropy_forward(logits (N,C), target (N,), ignore_index, label_smoothing) -> (loss (N,), log_probs)
               cross_entropy_backward(log_probs, target, grad_loss, ignore_index, label_smoothing)
    attention  attention_forward(q (B,Tq,D), k, v, mask (B,Tq,Tk) or None, causal, scale) -> (out, probs)
               attention_backward(q, k, v, probs, grad_out, scale) -> (grad_q, grad_k, grad_v)
    rnn        rnn_tanh_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh); rnn_tanh_cell_backward(x, h, w_ih, w_hh, h_new, grad_h_new)
               lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh) -> (h_new, c_new, gates (N,4H));
               lstm_cell_backward(x, h, c, w_ih, w_hh, c_new, gates, grad_h_new, grad_c_new)
               gru_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh) -> (h_new, gates (N,4H)); gru_cell_backward(x, h, w_ih, w_hh, gates, grad_h_new)
    elementwise erf(x): the error function (NumPy has none), for the exact GELU
    norm       layer_norm_forward(x (R,D), weight, bias, eps) -> (y, mean, rstd); layer_norm_backward(grad_y, x, weight, mean, rstd)
    optim      adam_step / adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay), in place

Every backend gives PyTorch's answers on NaN, ±inf and empty inputs (the reference is tested against torch, the
others against the reference, tests/kernels/): a -inf logit gets probability 0, a row of all -inf or holding
+inf or NaN is NaN; an attention row whose scores are all -inf is 0; any dimension may be 0.
"""
