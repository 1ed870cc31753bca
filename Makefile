# The two commands of the README.  Everything else is in scripts/.
.PHONY: demo test setup

setup:
	@scripts/setup-env

demo: setup
	.venv/bin/kiosk demo

test: setup
	@scripts/install-system-deps
	.venv/bin/python -m pytest
