"""``kiosk normalize``: placeholder until capture lands."""
import click


@click.command()
@click.argument("input")
@click.argument("output")
def normalize_command(input, output):
    """Raw photo → spec photo (not implemented yet)."""
    raise click.ClickException("not implemented yet")
