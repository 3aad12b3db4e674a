"""The one error type of the MovieLens ExampleGen, and the wording of its fixes.

Every problem with the input data becomes a BadInputError whose message says which file,
which 1-based line, what value was wrong and how to fix it, so that a user can act on it
without reading a traceback.
"""

# The command-line flags that the fixes refer to.
DATA_DIR_FLAG = '--data-dir'
SKIP_BAD_ROWS_FLAG = '--skip-bad-rows'

# Appended to every problem that --skip-bad-rows can drop.
SKIPPABLE_FIX = (f'Fix the line, or pass {SKIP_BAD_ROWS_FLAG} to drop such rows '
                 '(they are counted).')


class BadInputError(ValueError):
    """Input data that cannot become examples; the message names the place and the fix."""


def bad_row(file_name: str, line_number: int, problem: str) -> BadInputError:
    """The error for one bad rating row, which --skip-bad-rows could have dropped."""
    return BadInputError(f'{file_name} line {line_number}: {problem}. {SKIPPABLE_FIX}')


def quote(value: str, limit: int = 60) -> str:
    """A value as it appears in messages: repr-quoted, and shortened if long."""
    if len(value) > limit:
        value = value[:limit] + '...'
    return repr(value)
