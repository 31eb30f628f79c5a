#!/usr/bin/env bash
# Sets up .venv on first use (and again whenever pyproject.toml changes), then runs:
#   ./dev.sh demo [justask demo options]   the LunarLander demo (about 10 minutes on 2 CPU cores)
#   ./dev.sh test [pytest options]         the test suite (slow end-to-end tests: -m slow)
#   ./dev.sh justask ...                   any justask command
set -euo pipefail
cd "$(dirname "$0")"
venv=.venv
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  echo "setting up $venv (first run only) ..." >&2
  python3 -m venv "$venv"
  # The CPU wheel of torch first: a later requirement it satisfies installs nothing more
  # (asking pip for plain torch would pull several GB of CUDA packages).
  "$venv/bin/pip" install -q torch==2.13.0
  "$venv/bin/pip" install -q -e ".[test]"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
export MPLBACKEND=Agg HF_HUB_OFFLINE=1
cmd=${1:-demo}
shift || true
case $cmd in
  demo) exec "$venv/bin/justask" demo "$@" ;;
  test) exec "$venv/bin/python" -m pytest "$@" ;;
  justask) exec "$venv/bin/justask" "$@" ;;
  *) echo "usage: ./dev.sh demo|test|justask [args]" >&2; exit 2 ;;
esac
