"""report.py, the command line, where no pipeline run is needed; and what reporting/ loads."""
import ast
import os

import report as report_cli
from runs.output_dir import OutputDir

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_without_a_run_names_the_missing_file(tmp_path, capsys):
    assert report_cli.main(['--output-dir', str(tmp_path)]) == report_cli.EXIT_NO_RUN
    error = capsys.readouterr().err
    assert OutputDir(str(tmp_path)).metadata in error
    assert 'local_runner.py' in error
    assert not os.path.exists(OutputDir(str(tmp_path)).report)


def project_imports(module: str, seen=None) -> set:
    """The project modules `module` imports, directly or through other project modules, at
    the top or inside functions."""
    seen = set() if seen is None else seen
    path = os.path.join(PROJECT, *module.split('.'))
    path = os.path.join(path, '__init__.py') if os.path.isdir(path) else path + '.py'
    if module in seen or not os.path.exists(path):
        return seen  # not the project's: a library
    seen.add(module)
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f'{node.module}.{alias.name}' for alias in node.names]
        for name in names:
            parts = name.split('.')
            for end in range(1, len(parts) + 1):
                project_imports('.'.join(parts[:end]), seen)
    return seen


def test_reporting_never_imports_the_trainer():
    # models/ranking/trainer.py patches TensorFlow internals when it is imported; a report
    # must not change the process it runs in.
    imported = project_imports('reporting.report')
    assert {'reporting.collect', 'runs.results', 'models.ranking.signatures'} <= imported
    assert 'models.ranking.trainer' not in imported
    # The check finds the Trainer where it is imported, even as `from package import module`.
    assert 'models.ranking.trainer' in project_imports('tests.models.data')
