"""Check MIB modules without net-snmp, smilint or pysmi (stdlib only).

    python -m lvsmon_snmp.mib.check mibs/KEEPALIVED-MIB.txt mibs/LVSMON-MIB.txt \\
        --reference /usr/share/snmp/mibs/KEEPALIVED-MIB.txt --served

Checks, each a Finding with the file and line:
- every module parses; every OID resolves to numbers; no OID is assigned twice;
- every symbol used is defined in its module or imported from a module that defines it;
- every OBJECT-TYPE's SYNTAX comes down to an SNMP base type, with a valid MAX-ACCESS;
- tables: a SEQUENCE OF table has one entry whose INDEX (or AUGMENTS) objects exist, and
  whose SEQUENCE lists its columns; notifications and groups name objects that exist;
- with --reference FILE: every object both our module and the reference module of the
  same name define agrees in OID, syntax, access and index (so a manager loading either
  file decodes our objects the same);
- with --served: every column the snapshot mapping serves (lvsmon_snmp.mib.*_mib) is an
  object of the MIBs given (or RFC 6527's VRRPV3-MIB, built in), readable, of the kind
  the mapping serves, and every index the mapping's sample state produces decodes by
  the table's INDEX clause.
Exit status 0 when no error was found, 1 otherwise, 2 for a file that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from lvsmon.errors import ParseError
from lvsmon_snmp.mib import base, rfc6527
from lvsmon_snmp.mib.smi import Definition, Module, Syntax, parse_file

READABLE = ("read-only", "read-write", "read-create")
ACCESSES = ("not-accessible", "accessible-for-notify", *READABLE)
Oid = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "error" or "warning"
    where: str  # "path:line" or a module name
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"


def _where(module: Module, definition: Definition | None = None) -> str:
    if definition is None or not definition.line:
        return module.path
    return f"{module.path}:{definition.line}"


class MibSet:
    """Modules checked together: OIDs resolved across them and the base facts."""

    def __init__(self, modules: Iterable[Module]):
        self.modules: dict[str, Module] = {}
        self.findings: list[Finding] = []
        for module in modules:
            if module.name in self.modules:
                self._error(module, None, f"module {module.name} given twice (also in "
                                          f"{self.modules[module.name].path})")
                continue
            self.modules[module.name] = module
        self.oids: dict[tuple[str, str], Oid] = {}  # (module, name) -> OID
        self.by_oid: dict[Oid, tuple[Module, Definition]] = {}
        self._resolve_all()

    # -- lookups --------------------------------------------------------------

    def _error(self, module: Module, definition: Definition | None, message: str) -> None:
        self.findings.append(Finding("error", _where(module, definition), message))

    def _warning(self, module: Module, definition: Definition | None, message: str) -> None:
        self.findings.append(Finding("warning", _where(module, definition), message))

    def lookup(self, module: Module, name: str) -> tuple[Module, Definition] | None:
        """The definition `name` means inside `module`: its own, or an import's."""
        if name in module.definitions:
            return module, module.definitions[name]
        source = module.imports.get(name)
        if source in self.modules and name in self.modules[source].definitions:
            return self.modules[source], self.modules[source].definitions[name]
        return None

    def oid_of(self, module: Module, name: str, seen: frozenset = frozenset()) -> Oid | None:
        found = self.lookup(module, name)
        if found is None:
            if name in base.NODES and (name in module.imports or name in ("iso",)):
                return base.NODES[name]
            return None
        owner, definition = found
        key = (owner.name, definition.name)
        if key in self.oids:
            return self.oids[key]
        if key in seen or not definition.oid_value:
            return None
        oid: list[int] = []
        for position, (part, number) in enumerate(definition.oid_value):
            if number is not None:
                oid.append(number)
            elif position == 0:
                start = self.oid_of(owner, part, seen | {key})
                if start is None:
                    return None
                oid.extend(start)
            else:
                return None
        self.oids[key] = tuple(oid)
        return self.oids[key]

    def syntax_chain(self, module: Module, syntax: Syntax) -> list[Syntax] | None:
        """The syntax, then each textual convention it is defined by, down to a primitive."""
        chain = [syntax]
        current_module = module
        for _ in range(10):
            name = chain[-1].type
            if name in base.PRIMITIVES:
                return chain
            found = self.lookup(current_module, name)
            if found is not None and found[1].syntax is not None and found[1].macro in (
                    "TEXTUAL-CONVENTION", "TYPE"):
                current_module = found[0]
                chain.append(found[1].syntax)
            elif name in base.TEXTUAL_CONVENTIONS and name in current_module.imports:
                chain.append(base.TEXTUAL_CONVENTIONS[name])
            else:
                return None
        return None

    def kind_of(self, module: Module, definition: Definition) -> str | None:
        if definition.syntax is None:
            return None
        chain = self.syntax_chain(module, definition.syntax)
        return base.PRIMITIVES[chain[-1].type] if chain else None

    def object_at(self, oid: Oid) -> tuple[Module, Definition, Oid] | None:
        """The OBJECT-TYPE whose OID is the longest prefix of `oid`, and the rest."""
        for length in range(len(oid), 0, -1):
            found = self.by_oid.get(oid[:length])
            if found is not None and found[1].macro == "OBJECT-TYPE":
                return found[0], found[1], oid[length:]
        return None

    def index_of(self, module: Module, entry: Definition) -> tuple[tuple[str, ...], str | None]:
        """An entry's INDEX objects (followed through AUGMENTS) and its IMPLIED one."""
        if entry.augments:
            found = self.lookup(module, entry.augments)
            if found is not None:
                return self.index_of(*found)
            return (), None
        return entry.index, entry.implied

    # -- resolution -----------------------------------------------------------

    def _resolve_all(self) -> None:
        for module in self.modules.values():
            for line, problem in module.problems:
                self.findings.append(Finding("error", f"{module.path}:{line}", problem))
            for definition in module.definitions.values():
                if not definition.oid_value:
                    continue
                oid = self.oid_of(module, definition.name)
                if oid is None:
                    self._error(module, definition, f"{definition.name}: OID does not resolve"
                                                    f" (parent {definition.parent} unknown)")
                    continue
                other = self.by_oid.get(oid)
                if other is not None:
                    self._error(module, definition, f"{definition.name}: OID "
                                f"{_text(oid)} is also {other[0].name}::{other[1].name}")
                    continue
                self.by_oid[oid] = (module, definition)


def _text(oid: Oid) -> str:
    return ".".join(str(part) for part in oid)


# -- structure checks -------------------------------------------------------------------


def check_set(mibs: MibSet) -> list[Finding]:
    """Imports, syntaxes, tables, notifications and groups of every module of the set."""
    for module in mibs.modules.values():
        _check_imports(mibs, module)
        children: dict[str, list[Definition]] = {}
        for definition in module.definitions.values():
            if definition.parent:
                children.setdefault(definition.parent, []).append(definition)
        for definition in module.definitions.values():
            if definition.macro == "OBJECT-TYPE":
                _check_object(mibs, module, definition, children)
            elif definition.macro == "NOTIFICATION-TYPE" or definition.macro == "OBJECT-GROUP":
                _check_members(mibs, module, definition, ("OBJECT-TYPE",), readable=True)
            elif definition.macro == "NOTIFICATION-GROUP":
                _check_members(mibs, module, definition, ("NOTIFICATION-TYPE",))
            elif definition.macro == "MODULE-COMPLIANCE":
                _check_members(mibs, module, definition, ("OBJECT-GROUP",
                                                          "NOTIFICATION-GROUP"))
            elif definition.macro == "TEXTUAL-CONVENTION" and (
                    mibs.syntax_chain(module, definition.syntax) is None):
                mibs._error(module, definition, f"{definition.name}: SYNTAX "
                            f"{definition.syntax} is no known type")
        _check_grouped(mibs, module)
    return mibs.findings


def _used_names(definition: Definition) -> list[str]:
    names = []
    if definition.parent:
        names.append(definition.parent)
    if definition.syntax is not None:
        kind = definition.syntax.type
        kind = kind[len("SEQUENCE OF "):] if kind.startswith("SEQUENCE OF ") else kind
        if kind not in base.PRIMITIVES or kind in ("Integer32", "Unsigned32", "Gauge32",
                                                   "Counter32", "Counter64", "TimeTicks",
                                                   "IpAddress", "Opaque"):
            names.append(kind)
    names += list(definition.index)
    if definition.augments:
        names.append(definition.augments)
    if definition.macro != "SEQUENCE":
        names += list(definition.members)
    return names


def _check_imports(mibs: MibSet, module: Module) -> None:
    for symbol, source in module.imports.items():
        if source in mibs.modules:
            if symbol not in mibs.modules[source].definitions:
                mibs._error(module, None, f"imports {symbol} from {source}, which does not "
                                          "define it")
        elif base.SOURCES.get(symbol) != source:
            where = base.SOURCES.get(symbol)
            hint = f" (it is in {where})" if where else ""
            mibs._error(module, None, f"imports {symbol} from {source}: not known there{hint}")
    used_macros = {definition.macro for definition in module.definitions.values()}
    for macro in used_macros & base.MACROS:
        if macro not in module.imports and not (module.name.startswith("SNMPv2")
                                                or module.path == "RFC 6527"):
            mibs._error(module, None, f"uses {macro} without importing it")
    for definition in module.definitions.values():
        for name in _used_names(definition):
            if name in module.definitions or name in module.imports or name == "iso":
                continue
            mibs._error(module, definition, f"{definition.name}: {name} is neither defined "
                                            "nor imported")


def _check_object(mibs: MibSet, module: Module, definition: Definition,
                  children: dict[str, list[Definition]]) -> None:
    name = definition.name
    if definition.access not in ACCESSES:
        mibs._error(module, definition, f"{name}: MAX-ACCESS {definition.access} is not one "
                                        f"of {', '.join(ACCESSES)}")
    if definition.status not in ("current", "deprecated", "obsolete"):
        mibs._error(module, definition, f"{name}: STATUS {definition.status}")
    syntax = definition.syntax
    if syntax is None:
        mibs._error(module, definition, f"{name}: no SYNTAX")
        return
    if syntax.type.startswith("SEQUENCE OF "):
        _check_table(mibs, module, definition, children)
        return
    parent = mibs.lookup(module, definition.parent) if definition.parent else None
    if definition.index or definition.augments:
        return  # an entry: checked with its table
    if mibs.kind_of(module, definition) is None:
        mibs._error(module, definition, f"{name}: SYNTAX {syntax} is no known type")
    if parent is not None and parent[1].macro == "OBJECT-TYPE" and not (
            parent[1].index or parent[1].augments):
        mibs._error(module, definition, f"{name}: its parent {parent[1].name} is an "
                                        "OBJECT-TYPE but no table entry")


def _check_table(mibs: MibSet, module: Module, table: Definition,
                 children: dict[str, list[Definition]]) -> None:
    if table.access != "not-accessible":
        mibs._error(module, table, f"{table.name}: a table must be not-accessible")
    entries = children.get(table.name, [])
    if len(entries) != 1 or entries[0].subid != 1:
        mibs._error(module, table, f"{table.name}: a table needs exactly one entry, "
                                   f"sub-identifier 1 (found {[e.name for e in entries]})")
        return
    entry = entries[0]
    wanted = table.syntax.type[len("SEQUENCE OF "):]
    if entry.syntax is None or entry.syntax.type != wanted:
        mibs._error(module, entry, f"{entry.name}: SYNTAX should be {wanted} (the table's "
                                   "SEQUENCE OF)")
    if entry.access != "not-accessible":
        mibs._error(module, entry, f"{entry.name}: an entry must be not-accessible")
    if not entry.index and not entry.augments:
        mibs._error(module, entry, f"{entry.name}: no INDEX or AUGMENTS")
    if entry.augments:
        target = mibs.lookup(module, entry.augments)
        if target is None or not target[1].index:
            mibs._error(module, entry, f"{entry.name}: AUGMENTS {entry.augments}, which is "
                                       "no table entry with an INDEX")
    for name in entry.index:
        found = mibs.lookup(module, name)
        if found is None and name in base.OBJECTS and name in module.imports:
            continue
        if found is None or found[1].macro != "OBJECT-TYPE":
            mibs._error(module, entry, f"{entry.name}: INDEX object {name} does not exist")
        elif mibs.kind_of(*found) is None:
            mibs._error(module, entry, f"{entry.name}: INDEX object {name} has no known type")
    columns = children.get(entry.name, [])
    sequence = mibs.lookup(module, wanted)
    if sequence is not None and sequence[1].macro == "SEQUENCE":
        listed, present = set(sequence[1].members), {column.name for column in columns}
        if listed != present:
            missing, extra = sorted(present - listed), sorted(listed - present)
            mibs._warning(module, sequence[1], f"{wanted} does not list the columns of "
                          f"{entry.name}: not listed {missing}, no such column {extra}")
    elif not entry.augments or sequence is not None:
        mibs._error(module, entry, f"{entry.name}: no SEQUENCE type {wanted}")
    for column in columns:
        if column.macro != "OBJECT-TYPE":
            mibs._error(module, column, f"{column.name}: only columns go under "
                                        f"{entry.name}")


def _check_members(mibs: MibSet, module: Module, definition: Definition,
                   macros: tuple[str, ...], readable: bool = False) -> None:
    for name in definition.members:
        found = mibs.lookup(module, name)
        if found is None:
            mibs._error(module, definition, f"{definition.name}: {name} does not exist")
        elif found[1].macro not in macros:
            mibs._error(module, definition, f"{definition.name}: {name} is a "
                                            f"{found[1].macro}, not a {' or '.join(macros)}")
        elif readable and found[1].access not in (*READABLE, "accessible-for-notify"):
            mibs._error(module, definition, f"{definition.name}: {name} is "
                                            f"{found[1].access}")


def _check_grouped(mibs: MibSet, module: Module) -> None:
    """SMIv2 wants every accessible object and notification in a group of its module."""
    groups = [d for d in module.definitions.values()
              if d.macro in ("OBJECT-GROUP", "NOTIFICATION-GROUP")]  # fmt: skip
    if not groups:
        return
    grouped = {name for group in groups for name in group.members}
    for definition in module.definitions.values():
        needs = definition.macro == "NOTIFICATION-TYPE" or (
            definition.macro == "OBJECT-TYPE" and definition.access not in (None,
                                                                            "not-accessible"))
        if needs and definition.name not in grouped:
            mibs._warning(module, definition, f"{definition.name} is in no group")


# -- comparison with a reference file ---------------------------------------------------


def compare(ours: MibSet, reference: MibSet) -> list[Finding]:
    """Every definition both sets' same-named modules hold agrees; OIDs never clash."""
    findings: list[Finding] = []
    for name, module in ours.modules.items():
        other = reference.modules.get(name)
        if other is None:
            continue
        for definition in module.definitions.values():
            theirs = other.definitions.get(definition.name)
            where = _where(module, definition)
            oid = ours.oids.get((name, definition.name))
            if theirs is None:
                clash = reference.by_oid.get(oid) if oid else None
                if clash is not None:
                    findings.append(Finding("error", where, f"{definition.name}: OID "
                                            f"{_text(oid)} is {clash[1].name} in "
                                            f"{other.path}"))
                elif definition.macro in ("OBJECT-TYPE", "NOTIFICATION-TYPE"):
                    findings.append(Finding("warning", where, f"{definition.name} is not in "
                                            f"{other.path}"))
                continue
            findings += _compare_one(ours, module, definition, reference, other, theirs)
    return findings


def _compare_one(ours: MibSet, module: Module, mine: Definition, reference: MibSet,
                 other: Module, theirs: Definition) -> list[Finding]:
    where, name = _where(module, mine), mine.name
    problems = []
    oid = ours.oids.get((module.name, name))
    their_oid = reference.oids.get((other.name, name))
    if (mine.oid_value or theirs.oid_value) and oid != their_oid:
        problems.append(f"OID {_text(oid or ())} != {_text(their_oid or ())}")
    if mine.macro != theirs.macro:
        problems.append(f"{mine.macro} != {theirs.macro}")
    if mine.macro in ("OBJECT-TYPE", "TEXTUAL-CONVENTION", "TYPE") and (
            str(mine.syntax) != str(theirs.syntax)):
        problems.append(f"SYNTAX {mine.syntax} != {theirs.syntax}")
    if mine.macro == "OBJECT-TYPE":
        if mine.access != theirs.access:
            problems.append(f"MAX-ACCESS {mine.access} != {theirs.access}")
        if mine.index != theirs.index or mine.implied != theirs.implied:
            problems.append(f"INDEX {list(mine.index)} != {list(theirs.index)}")
        if mine.augments != theirs.augments:
            problems.append(f"AUGMENTS {mine.augments} != {theirs.augments}")
    if mine.macro == "NOTIFICATION-TYPE" and mine.members != theirs.members:
        problems.append(f"OBJECTS {list(mine.members)} != {list(theirs.members)}")
    return [Finding("error", where, f"{name} differs from {other.path}: {problem}")
            for problem in problems]


# -- what the mapping serves --------------------------------------------------------------


def check_served(mibs: MibSet, served: Iterable[tuple[Oid, str]], *,
                 notify: bool = False) -> list[Finding]:
    """Each (oid, kind) is an instance of a readable object of `mibs`, of that kind, with an
    index its table's INDEX clause decodes. `notify`: varbinds of a notification, where
    accessible-for-notify objects are allowed too."""
    findings: list[Finding] = []
    allowed = (*READABLE, "accessible-for-notify") if notify else READABLE
    for oid, kind in served:
        problem = _served_problem(mibs, tuple(oid), kind, allowed)
        if problem:
            findings.append(Finding("error", "served", f"{_text(oid)}: {problem}"))
    return findings


def _served_problem(mibs: MibSet, oid: Oid, kind: str, allowed: tuple[str, ...]) -> str | None:
    if kind not in base.KINDS:
        return f"kind {kind!r} is not one of {', '.join(base.KINDS)}"
    found = mibs.object_at(oid)
    if found is None:
        return "no object of the MIBs is a prefix of it"
    module, definition, suffix = found
    if definition.access not in allowed:
        return f"{definition.name} is {definition.access}"
    expected = mibs.kind_of(module, definition)
    if expected != kind:
        return f"{definition.name} is {expected} ({definition.syntax}), served as {kind}"
    parent = mibs.lookup(module, definition.parent) if definition.parent else None
    if parent is None or parent[1].macro != "OBJECT-TYPE":
        return None if suffix == (0,) else f"scalar {definition.name} needs the instance .0"
    names, implied = mibs.index_of(*parent)
    problem = decode_index(mibs, parent[0], names, implied, suffix)
    return f"{definition.name}: index {_text(suffix)}: {problem}" if problem else None


def decode_index(mibs: MibSet, module: Module, names: tuple[str, ...], implied: str | None,
                 suffix: Oid) -> str | None:
    """Why `suffix` is no index by these INDEX objects (RFC 2578 section 7.7), or None."""
    rest = list(suffix)
    for name in names:
        found = mibs.lookup(module, name)
        if found is not None:
            chain = mibs.syntax_chain(found[0], found[1].syntax) if found[1].syntax else None
        elif name in base.OBJECTS:
            chain = [base.OBJECTS[name][0], base.TEXTUAL_CONVENTIONS[base.OBJECTS[name][0].type]]
        else:
            return f"index object {name} unknown"
        if not chain:
            return f"index object {name} has no known type"
        kind = base.PRIMITIVES[chain[-1].type]
        problem = _take_index_part(name, kind, chain, rest, name == implied)
        if problem:
            return problem
    if rest:
        return f"{len(rest)} sub-identifiers left over after {', '.join(names)}"
    return None


def _take_index_part(name: str, kind: str, chain: list[Syntax], rest: list[int],
                     implied: bool) -> str | None:
    if not rest:
        return f"ends before {name}"
    if kind in ("Integer32", "Unsigned32", "Gauge32", "Counter32", "TimeTicks"):
        value = rest.pop(0)
        for syntax in chain:
            if syntax.named:
                if value not in {number for _, number in syntax.named}:
                    return f"{name} {value} is not one of its named numbers"
                break
            span = syntax.value_range()
            if span and not span[0] <= value <= span[1]:
                return f"{name} {value} outside {span[0]}..{span[1]}"
        return None
    if kind == "IpAddress":
        size = 4
    else:
        sizes = next((syntax.sizes() for syntax in chain if syntax.sizes()), None)
        if kind == "OctetString" and sizes and len(sizes) == 1:
            size = sizes[0]
        elif implied:
            size = len(rest)
        else:
            size = rest.pop(0)
            if size > len(rest):
                return f"{name} says {size} sub-identifiers, {len(rest)} left"
            if sizes and size not in sizes:
                return f"{name} of length {size}, allowed {sizes}"
    if size > len(rest):
        return f"{name} needs {size} sub-identifiers, {len(rest)} left"
    part = [rest.pop(0) for _ in range(size)]
    if kind in ("OctetString", "IpAddress") and any(not 0 <= byte <= 255 for byte in part):
        return f"{name}: an octet above 255"
    return None


# -- the command line --------------------------------------------------------------------


def load(paths: Iterable[str], *, with_rfc6527: bool = True) -> MibSet:
    modules = [module for path in paths for module in parse_file(path)]
    if with_rfc6527 and not any(m.name == rfc6527.MODULE_NAME for m in modules):
        modules.append(rfc6527.module())
    return MibSet(modules)


def run(paths: list[str], references: list[str] = (), served: bool = False,
        base_oid: str | None = None) -> list[Finding]:
    mibs = load(paths)
    findings = check_set(mibs)
    for path in references:
        reference = load([path], with_rfc6527=False)
        findings += [f for f in check_set(reference) if f.level == "error"]
        findings += compare(mibs, reference)
    if served:
        from lvsmon_snmp.mib import served as served_objects

        findings += check_served(mibs, served_objects.sample_served(base_oid))
        findings += check_served(mibs, served_objects.sample_varbinds(base_oid), notify=True)
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lvsmon_snmp.mib.check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="MIB modules to check")
    parser.add_argument("--reference", action="append", default=[], metavar="FILE",
                        help="a module ours must agree with (e.g. keepalived's own "
                             "KEEPALIVED-MIB.txt, a VRRPV3-MIB from RFC 6527)")
    parser.add_argument("--served", action="store_true",
                        help="also check what lvsmon's AgentX subagent serves")
    parser.add_argument("--base-oid", help="the [agentx] base_oid LVSMON-MIB is served under "
                                           "(default: the MIB's own)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    args = parser.parse_args(argv)
    try:
        findings = run(args.files, args.reference, args.served, args.base_oid)
    except ParseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    errors = [f for f in findings if f.level == "error"]
    for finding in findings:
        if finding.level == "error" or not args.quiet:
            print(finding)
    print(f"{len(errors)} errors, {len(findings) - len(errors)} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
