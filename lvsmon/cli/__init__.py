"""The lvsmon command line (a frontend: it renders snapshots and calls the core)."""

import click

from lvsmon import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lvsmon")
def main():
    """lvsmon: monitoring for keepalived + LVS/IPVS load balancers."""


if __name__ == "__main__":
    main()
