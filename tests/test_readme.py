"""The README's library example runs as written and shows its progress."""
import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


def test_library_example_prints_the_loss(tmp_path, monkeypatch, capsys):
    [example] = re.findall(r"```python\n(.*?)```", open(README).read(), re.S)
    monkeypatch.chdir(tmp_path)   # it saves model.npz in the current directory
    exec(compile(example, 'README.md', 'exec'), {})
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", capsys.readouterr().out)]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    assert (tmp_path / 'model.npz').exists()
