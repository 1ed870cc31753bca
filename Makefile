# The two commands of the README.  Everything else is in scripts/.
.PHONY: demo test setup

setup:
	@scripts/setup-env

demo: setup
	.venv/bin/kiosk demo

# System packages first: setup compiles QC's landmark library when a C compiler is there.
test:
	@scripts/install-system-deps
	@scripts/setup-env
	.venv/bin/python -m pytest
