import re
import shutil

import numpy
import pytest

import minifft
from minifft import nn, viz
from minifft import functions as F


def parse(dot):
    """{node id: label} and [(from, to)] read back from DOT text."""
    nodes = dict(re.findall(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M))
    edges = re.findall(r'^\s*(\w+) -> (\w+);', dot, re.M)
    return nodes, edges


def small_graph():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = minifft.tensor(numpy.ones((5, 3), numpy.float32))
    return model, model(x)


def test_to_dot_nodes_edges_and_names():
    model, y = small_graph()
    dot = viz.to_dot(y, model)
    assert dot.startswith('digraph minifft {') and dot.rstrip().endswith('}')
    nodes, edges = parse(dot)
    # tensors x, W1, b1, h1, h2, W2, b2, y and ops Linear, ReLU, Linear
    assert len(nodes) == 11 and len(edges) == 10
    labels = sorted(nodes.values())
    assert labels.count('Linear') == 2 and labels.count('ReLU') == 1
    assert r'0.weight\n(4, 3) float32' in labels and r'2.bias\n(2,) float32' in labels
    assert r'output\n(5, 2) float32' in labels and '(5, 3) float32' in labels
    assert all(a in nodes and b in nodes for a, b in edges)
    ops = {k for k, v in nodes.items() if v in ('Linear', 'ReLU')}
    assert all((a in ops) != (b in ops) for a, b in edges)  # edges alternate tensor -> op -> tensor


def test_shared_tensor_appears_once_and_names_from_a_dict():
    w = minifft.tensor(numpy.ones(3), requires_grad=True)
    y = F.mul(w, w) + w
    nodes, edges = parse(viz.to_dot(y, {'w': w}, name='y'))
    # tensors w, w*w, y; ops Mul, Add: w feeds Mul twice and Add once
    assert len(nodes) == 5 and len(edges) == 6
    assert sum(label.startswith('w\\n') for label in nodes.values()) == 1


def test_graph_survives_backward():
    model, y = small_graph()
    before = viz.to_dot(y.sum(), model)
    y.sum().backward()
    assert len(parse(viz.to_dot(y, model))[0]) == len(parse(before)[0]) - 2  # without the Sum op and its output


def test_render_without_graphviz_writes_the_text(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, 'which', lambda name: None)
    dot = viz.to_dot(small_graph()[1])
    with pytest.warns(RuntimeWarning, match="`dot` program is not installed"):
        written = viz.render(dot, tmp_path / 'g.png')
    assert written == str(tmp_path / 'g.dot') and (tmp_path / 'g.dot').read_text() == dot
    assert not (tmp_path / 'g.png').exists()
    assert viz.render(dot, tmp_path / 'h.dot') == str(tmp_path / 'h.dot')


@pytest.mark.skipif(shutil.which('dot') is None, reason="Graphviz's dot is not installed")
def test_render_with_graphviz(tmp_path):
    path = viz.render(viz.to_dot(small_graph()[1]), tmp_path / 'g.svg')
    assert '<svg' in (tmp_path / 'g.svg').read_text() and path.endswith('g.svg')


def test_errors(tmp_path):
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        viz.to_dot(numpy.ones(2))
    with pytest.raises(ValueError, match="render: expected a path ending in .dot"):
        viz.render('digraph {}', tmp_path / 'g.jpg')
