"""The lvsmon command line: a frontend that renders snapshots and calls the core.

Errors from the core (lvsmon.errors) become one line on stderr and the
error's exit code here, and nowhere else.
"""

import click

from lvsmon import __version__
from lvsmon.errors import ConfigError, LvsmonError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # every problem on a line of its own, file:line first
            for problem in exc.problems:
                click.echo(problem, err=True)
            ctx.exit(exc.exit_code)
        except LvsmonError as exc:
            click.echo(f"lvsmon: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lvsmon")
def main():
    """lvsmon: monitoring for keepalived + LVS/IPVS load balancers.

    Shows the IPVS table with 64-bit counters and rates and drains real
    servers before a deploy; watches VRRP on the wire (and can take part in
    it); keeps an audit log of source-NATed connections; `lvsmon run` is the
    daemon; reads keepalived.conf as keepalived does. Run `lvsmon COMMAND
    --help` for each command.
    """


def _register():
    from lvsmon.cli import (
        config_cmd,
        daemon_cmd,
        ipvs_cmd,
        keepalived_cmd,
        pool_cmd,
        snat_cmd,
        vrrp_cmd,
    )

    main.add_command(ipvs_cmd.ipvs)
    main.add_command(pool_cmd.drain)
    main.add_command(pool_cmd.undrain)
    main.add_command(snat_cmd.snat)
    main.add_command(vrrp_cmd.vrrp)
    main.add_command(keepalived_cmd.keepalived)
    main.add_command(daemon_cmd.run)
    main.add_command(daemon_cmd.status)
    main.add_command(config_cmd.config)


_register()

if __name__ == "__main__":
    main()
