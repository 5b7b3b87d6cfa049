"""tg.summary: one row per module call with its output shape and own parameter count; totals equal the model's."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
from tinygrad_edu.summary import summary_at_first_forward


class TwoBranchNet(nn.Module):
    """A model with its own parameter, nesting, a frozen layer and a tuple output."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(tg.ones(6))
        self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
        self.head = nn.Linear(6, 3)
        self.frozen = nn.Linear(6, 2)
        self.frozen.requires_grad_(False)
        self.unused = nn.Linear(5, 5)

    def forward(self, x):
        hidden = self.body(x) * self.scale  # (B, 6)
        return self.head(hidden), self.frozen(hidden)


def _rows(text):
    """{layer label: (output shape text, parameter count)} from the table's body (its columns are aligned)."""
    lines = text.splitlines()
    shape_column = lines[1].index("Output shape")
    body = lines[3:lines.index(lines[0], 3)]
    rows = {}
    for line in body:
        shape, count = line[shape_column:].rsplit(None, 1)
        rows[line[:shape_column].strip()] = (shape.strip(), int(count.replace(",", "")))
    return rows


def test_summary_rows_show_output_shapes_and_own_parameter_counts():
    model = TwoBranchNet()
    text = tg.summary(model, tg.zeros(5, 4), print_fn=None)
    rows = _rows(text)
    assert rows["TwoBranchNet"] == ("([5, 3], [5, 2])", 6)  # its own `scale` only
    assert rows["body (Sequential)"] == ("[5, 6]", 0)
    assert rows["0 (Linear)"] == ("[5, 6]", 4 * 6 + 6)
    assert rows["1 (ReLU)"] == ("[5, 6]", 0)
    assert rows["head (Linear)"] == ("[5, 3]", 6 * 3 + 3)
    assert rows["frozen (Linear)"] == ("[5, 2]", 6 * 2 + 2)
    assert "unused" not in text  # never called: no row, but its parameters are in the total


def test_summary_totals_equal_the_sum_of_numel_and_count_frozen_parameters_apart():
    model = TwoBranchNet()
    text = tg.summary(model, tg.zeros(2, 4), print_fn=None)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {trainable:,}" in text
    assert f"Non-trainable params: {total - trainable:,}" in text
    assert total - trainable == 6 * 2 + 2


def test_summary_rows_add_up_to_the_total_when_every_module_runs():
    model = nn.Sequential(nn.Embedding(10, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    text = tg.summary(model, np.array([[1, 2, 3]]), print_fn=None)
    counts = [count for _, count in _rows(text).values()]
    assert sum(counts) == sum(p.numel() for p in model.parameters()) == 10 * 8 + 2 * 8 + 8 * 3 + 3
    assert _rows(text)["0 (Embedding)"] == ("[1, 3, 8]", 80)


def test_shared_module_called_twice_gets_two_rows_but_its_parameters_count_once():
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    text = tg.summary(model, tg.zeros(1, 3), print_fn=None)
    linear_rows = [line for line in text.splitlines() if "(Linear)" in line]
    assert len(linear_rows) == 2
    assert linear_rows[0].split()[-1] == "12" and linear_rows[1].split()[-1] == "0"
    assert "Total params: 12" in text


def test_summary_prints_returns_the_same_text_and_leaves_the_model_and_generator_untouched(capsys):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = tg.ones(3, 4)
    tg.manual_seed(0)
    expected_next = tg.rand(3).numpy()
    tg.manual_seed(0)
    text = tg.summary(model, x)
    assert capsys.readouterr().out.strip() == text.strip()
    assert np.array_equal(tg.rand(3).numpy(), expected_next)  # the summary's dropout draw was put back
    assert all("forward" not in m.__dict__ for m in model.modules())  # the recording wrappers are gone
    assert model.training


def test_summary_puts_back_the_wrappers_when_the_model_raises():
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(Exception):
        tg.summary(model, tg.zeros(3, 5), print_fn=None)
    assert "forward" not in model[0].__dict__
    assert model(tg.zeros(1, 4)).shape == (1, 2)


def test_summary_at_first_forward_records_the_real_call_only_once():
    model = nn.Sequential(nn.Linear(2, 3))
    original_call = nn.Module.__call__
    printed = []
    with summary_at_first_forward(print_fn=printed.append):
        out = model(tg.ones(4, 2))
        model(tg.ones(1, 2))
    assert out.shape == (4, 3) and len(printed) == 1
    assert "[4, 3]" in printed[0] and "Total params: 9" in printed[0]
    assert nn.Module.__call__ is original_call and "forward" not in model[0].__dict__


def test_summary_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="summary: model must be an nn.Module"):
        tg.summary(lambda x: x, tg.zeros(1))
