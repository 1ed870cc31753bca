"""``kiosk qc``: placeholder until the QC engine lands."""
import click


@click.command()
@click.argument("files", nargs=-1)
def qc_command(files):
    """Check photos against a profile (not implemented yet)."""
    raise click.ClickException("not implemented yet")
