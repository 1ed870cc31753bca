"""``python -m kiosk`` is the ``kiosk`` command."""
from .cli import main

main()
