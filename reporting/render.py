"""The report's HTML: templates/index.html.j2 rendered from the report context with Jinja2.

Autoescaping is on, so every value from a run (paths, feature values, error messages) is
text, never markup. The page needs no JavaScript and fetches nothing: its stylesheet is
inlined and its images are the PNGs beside it.
"""
import dataclasses
import os

import jinja2

from components import serving_layout
from models import artifacts
from reporting.context import Failed, Missing, ReportContext

TEMPLATE = 'index.html.j2'
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                'templates')),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENVIRONMENT.tests['missing'] = lambda part: isinstance(part, Missing)
_ENVIRONMENT.tests['failed'] = lambda part: isinstance(part, Failed)
_ENVIRONMENT.filters['rmse'] = lambda value: 'n/a' if value is None else f'{value:.4f}'
# Jinja's own capitalize lowercases the rest, paths and names included.
_ENVIRONMENT.filters['capitalize_first'] = lambda text: text[:1].upper() + text[1:]
# File names the page mentions, from their one home.
_ENVIRONMENT.globals.update(history_file=artifacts.HISTORY_FILE,
                            saved_model_file=serving_layout.SAVED_MODEL_FILE)


def page(context: ReportContext) -> str:
    """The whole page, as index.html holds it."""
    return _ENVIRONMENT.get_template(TEMPLATE).render(
        {field.name: getattr(context, field.name) for field in dataclasses.fields(context)})
