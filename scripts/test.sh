#!/usr/bin/env bash
# The test command: lint, then the default test suite (slow tests need --runslow) on two xdist workers. Extra
# args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ruff check jaxpool experiments tests
python -m pytest -q -n 2 "$@"
