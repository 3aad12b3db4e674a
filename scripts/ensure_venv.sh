#!/usr/bin/env bash
# Creates .venv with Python 3.10 and the locked dependencies, or does nothing when it is current.
# Idempotent: the lock file's hash is stamped into the venv, so an unchanged lock costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.lock-sha256"
want=$(cat requirements.lock setup.py scripts/ensure_venv.sh | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

find_python310() {
    if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
        command -v python3.10
        return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        local version
        version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -V | tail -n 1)
        if [ -n "$version" ]; then
            echo "$(pyenv root)/versions/$version/bin/python3.10"
            return
        fi
    fi
    return 1
}

if ! PYTHON=$(find_python310); then
    echo "error: Python 3.10 not found. TFX 1.16 needs Python 3.10 (it does not support 3.11+)." >&2
    echo "Install it, e.g. 'pyenv install 3.10.13' or your OS package 'python3.10 python3.10-venv', then rerun." >&2
    exit 1
fi

echo "Setting up $VENV with $PYTHON (Python $("$PYTHON" -c 'import platform; print(platform.python_version())'))"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# uv installs the locked set about 4x faster than pip; it is pinned in the lock too.
uv_version=$(grep -E '^uv==' requirements.lock | cut -d= -f3)
if [ "$("$VENV/bin/python" -m uv --version 2>/dev/null | cut -d' ' -f2)" != "$uv_version" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
# Compiled now, not at every start: otherwise a run whose environment forbids writing
# bytecode (PYTHONDONTWRITEBYTECODE) compiles much of TFX, Beam and TFMA on each import.
"$VENV/bin/python" -m uv pip sync --quiet --compile-bytecode --python "$VENV/bin/python" \
    requirements.lock
# The project itself, editable, so that Beam workers and dotted paths import the same code.
"$VENV/bin/python" -m uv pip install --quiet --python "$VENV/bin/python" --no-deps -e .
echo "$want" > "$STAMP"
