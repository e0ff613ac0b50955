"""Frontends plug into the CLI through entry points, so the core never imports one.

Two entry-point groups (setup.cfg):

    lvsmon.commands    "GROUP.NAME = module:command": a click command offered as
                       `lvsmon GROUP NAME`, imported only when it is run or listed
    lvsmon.frontends   "NAME = module:factory": factory(config) -> a frontend that
                       `lvsmon run` hands to the daemon (lvsmon.daemon.Frontend)

A frontend package that is not installed simply offers nothing.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

COMMANDS = "lvsmon.commands"
FRONTENDS = "lvsmon.frontends"


def _commands_of(group_name: str) -> dict[str, EntryPoint]:
    prefix = f"{group_name}."
    return {
        point.name[len(prefix) :]: point
        for point in entry_points(group=COMMANDS)
        if point.name.startswith(prefix)
    }


class PluginGroup(click.Group):
    """A click group that also offers the commands frontends register for it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_commands_of(self.name)))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        point = _commands_of(self.name).get(name)
        return None if point is None else point.load()


def frontend_factories() -> dict[str, object]:
    """NAME -> factory of every installed frontend, imported now (for `lvsmon run`)."""
    return {point.name: point.load() for point in entry_points(group=FRONTENDS)}
