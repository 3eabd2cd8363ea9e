"""The graph that produced a tensor, as Graphviz DOT text (DeZero's plot_dot_graph for minifft).

    dot = minifft.viz.to_dot(loss, model)     # text; parameters named from the model
    minifft.viz.render(dot, 'graph.png')      # PNG/SVG/PDF through Graphviz's `dot` if installed

Op nodes are boxes named by their Function class; tensor nodes are ellipses with shape and dtype,
parameters additionally with their name. Edges run from inputs to ops and from ops to outputs,
so the picture reads in the direction of the forward pass. Nothing here needs Graphviz: without
the `dot` program, ``render`` writes the DOT text and says so.
"""
import os
import shutil
import subprocess
import warnings

from .tensor import Tensor

FORMATS = ('png', 'svg', 'pdf')


def _label(*lines):
    """A quoted DOT label, one line per argument (DOT's \\n between them)."""
    return '"' + '\\n'.join(str(line).replace('\\', '\\\\').replace('"', '\\"') for line in lines) + '"'


def _parameter_names(params):
    """id(tensor) -> name from a Module (named_parameters) or a {name: Tensor} mapping."""
    if params is None:
        return {}
    if hasattr(params, 'named_parameters'):
        params = dict(params.named_parameters())
    if not isinstance(params, dict):
        raise TypeError(f"to_dot: expected params as a Module or a dict of name -> Tensor, got {type(params).__name__}")
    return {id(t): name for name, t in params.items()}


def to_dot(tensor, params=None, name='output'):
    """DOT text of the graph that produced ``tensor`` (it must still hold its graph: call before, or
    after a backward with retain_graph, or after a plain backward; ops keep their inputs either way).

    ``params``: a Module or {name: Tensor} whose tensors are labelled by name; ``name`` labels
    ``tensor`` itself.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    names = _parameter_names(params)
    names.setdefault(id(tensor), name)
    ids = {}
    lines = ['digraph minifft {', '  node [fontname="Helvetica", fontsize=10];']

    def node_id(obj, prefix):
        key = id(obj)
        if key not in ids:
            ids[key] = f"{prefix}{len(ids)}"
        return ids[key]

    def tensor_node(t):
        if id(t) in ids:
            return ids[id(t)]
        tid = node_id(t, 't')
        label = (names[id(t)],) if id(t) in names else ()
        label += (f"{t.shape} {t.dtype}",)
        color = 'lightgoldenrod' if id(t) in names and t.creator is None else 'orange'
        lines.append(f'  {tid} [label={_label(*label)}, shape=ellipse, style=filled, fillcolor={color}];')
        return tid

    seen_fns = set()
    stack = [tensor]
    tensor_node(tensor)
    while stack:  # iterative: deep graphs must not hit the recursion limit
        t = stack.pop()
        fn = t.creator
        if fn is None or id(fn) in seen_fns:
            continue
        seen_fns.add(id(fn))
        fid = node_id(fn, 'f')
        lines.append(f'  {fid} [label={_label(type(fn).__name__)}, shape=box, style=filled, fillcolor=lightblue];')
        lines.append(f'  {fid} -> {tensor_node(t)};')
        for x in fn.inputs:
            lines.append(f'  {tensor_node(x)} -> {fid};')
            stack.append(x)
    lines.append('}')
    return '\n'.join(lines) + '\n'


def render(dot_text, path):
    """Write ``dot_text`` to ``path``: rendered by Graphviz when ``path`` ends in .png, .svg or .pdf
    and the `dot` program is installed, as text when it ends in .dot. Without `dot`, writes the text
    beside ``path`` with the .dot suffix, warns saying so, and returns that path. Returns the path
    written."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    fmt = ext[1:].lower()
    if fmt != 'dot' and fmt not in FORMATS:
        raise ValueError(f"render: expected a path ending in .dot or one of {', '.join('.' + f for f in FORMATS)}, "
                         f"got {path!r}")
    if fmt != 'dot':
        dot = shutil.which('dot')
        if dot is not None:
            done = subprocess.run([dot, f'-T{fmt}', '-o', path], input=dot_text.encode(), capture_output=True)
            if done.returncode != 0:
                raise RuntimeError(f"render: Graphviz dot failed for {path}: {done.stderr.decode().strip()}")
            return path
        text_path = stem + '.dot'
        warnings.warn(f"render: Graphviz's `dot` program is not installed, so {path} was not drawn; wrote the "
                      f"DOT text to {text_path} (draw it with `dot -T{fmt} {text_path} -o {path}`)", RuntimeWarning)
        path = text_path
    with open(path, 'w') as f:
        f.write(dot_text)
    return path
