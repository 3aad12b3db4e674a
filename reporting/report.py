"""The run report: one static HTML page, with PNG figures, of what the latest run in an output
dir did, readable offline in any browser. docs/report.md describes the page.

This module only puts the steps together: collect each part of the page (collect.py,
predictions.py) or take it from the previous report (cache.py), draw its figure
(figures.py), render the page (render.py) and write it next to the figures.
"""
import dataclasses
import os
import time
import typing
from typing import Any, Dict, List, Optional

from reporting import cache, collect, figures, render
from reporting.context import Failed, Missing, ReportContext
from reporting.run import Run
from runs.output_dir import OutputDir


@dataclasses.dataclass
class Report:
    path: str  # the index.html written
    problems: List[str]  # parts that failed for a reason other than a missing input
    seconds: float
    reused: List[str] = dataclasses.field(default_factory=list)  # parts of the last report


def write_report(output_dir: str, failure_message: Optional[str] = None) -> str:
    """Writes <output_dir>/report/index.html and its figures; returns the page's path."""
    return build_report(output_dir, failure_message).path


def build_report(output_dir: str, failure_message: Optional[str] = None, reuse: bool = True,
                 run_summary: Optional[Dict[str, Any]] = None) -> Report:
    """Writes the report of the latest run in output_dir.

    Args:
      output_dir: the --output-dir of a local_runner.py run.
      failure_message: the error a failed run ended with, which MLMD does not keep.
      reuse: take parts whose artifacts are unchanged from the previous report.
      run_summary: this run's summary as the runner wrote it; None to build it from MLMD.

    Returns:
      The page's path, the parts that could not be built, the seconds it took and the parts
      reused. Raises NoRunError when the dir holds no run.
    """
    started = time.monotonic()
    run = Run.open(output_dir, failure_message, run_summary)
    output = OutputDir(run.output_dir)
    report_dir = output.report
    os.makedirs(report_dir, exist_ok=True)
    parts = cache.PartCache(report_dir, reuse)
    problems, reused, outcomes, images = list(run.problems), [], {}, {}
    for part in collect.PARTS:
        key = _key(part, run)
        kept = parts.reuse(part.name, key, typing.get_type_hints(part.collect)['return']
                           ) if key else None
        if kept:
            reused.append(part.title)
            outcomes[part.name], image = kept
            if image:
                images[part.name] = image
            continue
        try:
            outcomes[part.name] = data = part.collect(run)
            if part.name in figures.DRAWERS:
                images[part.name] = figures.draw(part.name, data, report_dir)
        except Missing as missing:
            outcomes[part.name] = missing
            continue
        except Exception as error:  # noqa: BLE001 -- shown on the page and in problems
            # One unreadable artifact must not cost the rest of the report.
            problems.append(f'{part.title}: {type(error).__name__}: {error}')
            outcomes[part.name] = Failed.of(error)
            continue
        if key:  # only a whole part is kept: one missing or failed is tried anew
            parts.keep(part.name, key, data, images.get(part.name))
    context = ReportContext(header=collect.header(run), footer=collect.footer(run, tuple(reused)),
                            images=images, problems=tuple(problems), **outcomes)
    path = output.report_page
    # Written whole and then renamed, so that a browser never shows a half-written page.
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        f.write(render.page(context))
    os.replace(path + '.tmp', path)
    parts.save()
    # Figures of an earlier report that this page does not show (a part now missing).
    shown = {image.file for image in images.values()}
    for name in os.listdir(report_dir):
        if name.endswith('.png') and name not in shown:
            os.remove(os.path.join(report_dir, name))
    return Report(path, problems, round(time.monotonic() - started, 2), reused)


def _key(part: collect.Part, run: Run) -> Optional[str]:
    """The key of a part that may be reused; None for one always built, or one that lacks an
    input (it is then built, and says which)."""
    if part.inputs is None:
        return None
    try:
        return cache.PartCache.key(part.name, part.inputs(run))
    except Exception:  # noqa: BLE001 -- the part is then built, and shows what is wrong
        return None
