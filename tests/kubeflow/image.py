"""The project's container image, as the harness stands it in on this machine.

Docker cannot build here, so the harness runs each task in a subprocess of the project's
virtual environment (the image's locked packages and the project, installed) with what the
Dockerfile declares: its WORKDIR as the working directory and its ENV as the environment,
with the image's project directory standing for this checkout, as if it were mounted
there. Nothing else from this machine's environment reaches the task: no PYTHONPATH.
"""
import os
import re
import sys
from typing import Any, Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILE = os.path.join(REPO, 'Dockerfile')
# What a task inherits from this machine: how to find programs and where home and
# temporary files are; the rest comes from the Dockerfile.
INHERITED = ('HOME', 'TMPDIR', 'LANG', 'LC_ALL')


def dockerfile_instructions(keyword: str, path: str = DOCKERFILE) -> List[str]:
    """The arguments of every `keyword` instruction, continuation lines joined."""
    with open(path) as f:
        text = f.read().replace('\\\n', ' ')
    return [arguments.strip() for arguments in
            re.findall(rf'^{keyword} (.+)$', text, re.MULTILINE)]


class Image:
    """The Dockerfile's working directory and environment, mapped onto this checkout."""

    def __init__(self, dockerfile: str = DOCKERFILE, checkout: str = REPO):
        [self.workdir] = dockerfile_instructions('WORKDIR', dockerfile)
        self.checkout = checkout
        self.env = {}
        for arguments in dockerfile_instructions('ENV', dockerfile):
            name, equals, value = arguments.partition('=')
            if not equals or ' ' in value.strip():
                raise ValueError(f'{dockerfile}: ENV {arguments}: the harness reads one '
                                 'NAME=value per ENV instruction; write it that way.')
            self.env[name.strip()] = value.strip()

    def local_path(self, value: Any) -> Any:
        """A string under the image's project directory, as a path in this checkout."""
        if isinstance(value, str) and (value == self.workdir or
                                       value.startswith(self.workdir + '/')):
            return self.checkout + value[len(self.workdir):]
        return value

    @property
    def cwd(self) -> str:
        return self.local_path(self.workdir)

    def environment(self) -> Dict[str, str]:
        """The task's environment: the image's `python` first on PATH, the Dockerfile's ENV."""
        env = {name: os.environ[name] for name in INHERITED if name in os.environ}
        env['PATH'] = os.pathsep.join([os.path.dirname(sys.executable),
                                       os.environ.get('PATH', '')])
        env.update({name: self.local_path(value) for name, value in self.env.items()})
        return env
