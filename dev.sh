#!/usr/bin/env bash
# Sets up .venv on first use (and again whenever pyproject.toml changes), then runs:
#   ./dev.sh demo [justask demo options]   the LunarLander demo (about 10 minutes on 2 CPU cores)
#   ./dev.sh test [pytest options]         the test suite (slow end-to-end tests: -m slow)
#   ./dev.sh justask ...                   any justask command
# The demo needs only the package; the tests add the test extra (pytest, ruff, Playwright, and
# Minari's DataCollector with jax), installed the first time they run, and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")"
venv=.venv
hash=$(sha256sum pyproject.toml | cut -c1-16)
cmd=${1:-demo}
shift || true
want=base
[[ $cmd == test ]] && want=test
if [[ ! -f $venv/.installed-$hash-test && ! -f $venv/.installed-$hash-$want ]]; then
  echo "setting up $venv (first run only) ..." >&2
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  # The CPU wheel of torch first: a later requirement it satisfies installs nothing more
  # (asking pip for plain torch would pull several GB of CUDA packages). --no-compile: modules
  # are byte-compiled when first imported, not all of torch at install time.
  "$venv/bin/pip" install -q --no-compile torch==2.13.0
  if [[ $want == test ]]; then
    "$venv/bin/pip" install -q --no-compile -e ".[test]"
  else
    "$venv/bin/pip" install -q --no-compile -e .
  fi
  rm -f "$venv"/.installed-*
  touch "$venv/.installed-$hash-$want"
fi
# The console's browser tests drive Debian's chromium (never a browser Playwright downloads):
# installed with apt the first time the tests run, where this user may (root on Debian).
if [[ $cmd == test && ! -x /usr/bin/chromium ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  echo "installing Debian's chromium for the console's browser tests (first run only) ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/dev/null 2>&1 || echo "could not install chromium: the browser tests will be skipped" >&2
fi
export MPLBACKEND=Agg HF_HUB_OFFLINE=1
case $cmd in
  demo) exec "$venv/bin/justask" demo "$@" ;;
  test) exec "$venv/bin/python" -m pytest "$@" ;;
  justask) exec "$venv/bin/justask" "$@" ;;
  *) echo "usage: ./dev.sh demo|test|justask [args]" >&2; exit 2 ;;
esac
