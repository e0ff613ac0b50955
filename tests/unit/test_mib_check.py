"""The MIB checker (lvsmon_snmp.mib.check): our MIBs pass, keepalived's and RFC 6527's
agree with ours, and each kind of mistake is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvsmon.errors import ParseError
from lvsmon_snmp.mib import check, rfc6527
from lvsmon_snmp.mib.smi import parse_text

REPO = Path(__file__).resolve().parents[2]
OURS = [str(REPO / "mibs" / "KEEPALIVED-MIB.txt"), str(REPO / "mibs" / "LVSMON-MIB.txt")]
DEBIAN_MIBS = Path("/usr/share/snmp/mibs")  # keepalived's package installs these two


@pytest.fixture(scope="module")
def keepalived_mib() -> str:
    path = DEBIAN_MIBS / "KEEPALIVED-MIB.txt"
    assert path.exists(), f"{path} missing: install Debian's keepalived (scripts/bootstrap)"
    return str(path)


@pytest.fixture(scope="module")
def vrrpv3_mib() -> str:
    path = DEBIAN_MIBS / "VRRPv3-MIB.txt"
    assert path.exists(), f"{path} missing: install Debian's keepalived (scripts/bootstrap)"
    return str(path)


def errors(findings) -> list[str]:
    return [f.message for f in findings if f.level == "error"]


def warnings(findings) -> list[str]:
    return [f.message for f in findings if f.level == "warning"]


# -- our files, keepalived's, RFC 6527's ----------------------------------------------------


def test_our_mibs_have_no_error_and_agree_with_keepalived_and_serve_what_they_define(
        keepalived_mib):
    findings = check.run(OURS, [keepalived_mib], served=True)
    assert errors(findings) == []
    # What we add beyond keepalived 2.2.7: the 64-bit rates of later keepalived versions.
    assert sorted(warnings(findings)) == sorted(
        f"{prefix}Rate{rate}64 is not in {keepalived_mib}"
        for prefix in ("virtualServer", "realServer")
        for rate in ("Cps", "InPPS", "OutPPS", "InBPS", "OutBPS"))


def test_the_comparison_covered_every_keepalived_object_we_define(keepalived_mib):
    ours = check.load(OURS)
    theirs = check.load([keepalived_mib], with_rfc6527=False)
    mine = ours.modules["KEEPALIVED-MIB"].definitions
    shared = [name for name in mine if name in theirs.modules["KEEPALIVED-MIB"].definitions]
    assert set(mine) - set(shared) == {
        f"{prefix}Rate{rate}64" for prefix in ("virtualServer", "realServer")
        for rate in ("Cps", "InPPS", "OutPPS", "InBPS", "OutBPS")}
    for name in ("vrrpInstanceState", "vrrpAddressValue", "virtualServerStatsInBytes",
                 "realServerRateOutBPSHigh", "vrrpInstanceStateChange", "VrrpState"):
        assert name in shared
        assert ours.oids.get(("KEEPALIVED-MIB", name)) == theirs.oids.get(
            ("KEEPALIVED-MIB", name))


def test_keepalived_and_rfc6527_files_read_cleanly(keepalived_mib, vrrpv3_mib):
    for path in (keepalived_mib, vrrpv3_mib):
        mibs = check.load([path], with_rfc6527=False)
        assert errors(check.check_set(mibs)) == [], path
    assert len(check.load([keepalived_mib], with_rfc6527=False).by_oid) > 450


def test_the_rfc6527_facts_agree_with_the_published_module(vrrpv3_mib):
    facts = check.MibSet([rfc6527.module()])
    published = check.load([vrrpv3_mib], with_rfc6527=False)
    assert errors(check.check_set(facts)) == []
    assert errors(check.compare(facts, published)) == []
    objects = [n for n, d in published.modules["VRRPV3-MIB"].definitions.items()
               if d.macro in ("OBJECT-TYPE", "NOTIFICATION-TYPE")]
    assert set(objects) <= set(facts.modules["VRRPV3-MIB"].definitions)


def test_the_command_line(keepalived_mib, tmp_path, capsys):
    assert check.main([*OURS, "--reference", keepalived_mib, "--served", "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 errors, 10 warnings")
    broken = tmp_path / "BROKEN-MIB.txt"
    broken.write_text(module(extra="twin OBJECT IDENTIFIER ::= { testRoot 1 }\n"))
    assert check.main([str(broken)]) == 1
    assert "also TEST-MIB::testObjects" in capsys.readouterr().out
    assert check.main([str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_served_under_another_base_oid_is_checked_against_that_base():
    findings = check.run(OURS, served=True, base_oid="1.3.6.1.4.1.99999.1")
    assert any("no object of the MIBs" in message for message in errors(findings))


# -- a small module, and each mistake made in it -------------------------------------------

IMPORTS = """IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, NOTIFICATION-TYPE, Integer32, Counter64, enterprises
        FROM SNMPv2-SMI
    DisplayString FROM SNMPv2-TC
    OBJECT-GROUP, NOTIFICATION-GROUP FROM SNMPv2-CONF
    InetAddressType, InetAddress FROM INET-ADDRESS-MIB;
"""


def module(extra: str = "", imports: str = IMPORTS, entry_index: str = "testIndex",
           entry_syntax: str = "TestEntry", counter_syntax: str = "Counter64") -> str:
    return f"""TEST-MIB DEFINITIONS ::= BEGIN
{imports}
testRoot MODULE-IDENTITY
    LAST-UPDATED "202601010000Z" ORGANIZATION "t" CONTACT-INFO "t"
    DESCRIPTION "a test module" -- a comment -- with more after it
    ::= {{ enterprises 99999 }}
testObjects OBJECT IDENTIFIER ::= {{ testRoot 1 }}
testName OBJECT-TYPE
    SYNTAX DisplayString MAX-ACCESS read-only STATUS current DESCRIPTION "d"
    ::= {{ testObjects 1 }}
testTable OBJECT-TYPE
    SYNTAX SEQUENCE OF TestEntry MAX-ACCESS not-accessible STATUS current DESCRIPTION "d"
    ::= {{ testObjects 2 }}
testEntry OBJECT-TYPE
    SYNTAX {entry_syntax} MAX-ACCESS not-accessible STATUS current DESCRIPTION "d"
    INDEX {{ {entry_index} }}
    ::= {{ testTable 1 }}
TestEntry ::= SEQUENCE {{ testIndex Integer32, testType InetAddressType,
                          testAddress InetAddress, testCount Counter64 }}
testIndex OBJECT-TYPE
    SYNTAX Integer32 (1..100) MAX-ACCESS not-accessible STATUS current DESCRIPTION "d"
    ::= {{ testEntry 1 }}
testType OBJECT-TYPE
    SYNTAX InetAddressType MAX-ACCESS not-accessible STATUS current DESCRIPTION "d"
    ::= {{ testEntry 2 }}
testAddress OBJECT-TYPE
    SYNTAX InetAddress MAX-ACCESS read-only STATUS current DESCRIPTION "d"
    ::= {{ testEntry 3 }}
testCount OBJECT-TYPE
    SYNTAX {counter_syntax} MAX-ACCESS read-only STATUS current DESCRIPTION "d"
    ::= {{ testEntry 4 }}
testEvent NOTIFICATION-TYPE
    OBJECTS {{ testName, testCount }} STATUS current DESCRIPTION "d"
    ::= {{ testRoot 0 1 }}
testGroup OBJECT-GROUP
    OBJECTS {{ testName, testAddress, testCount }} STATUS current DESCRIPTION "d"
    ::= {{ testRoot 2 1 }}
testEvents NOTIFICATION-GROUP
    NOTIFICATIONS {{ testEvent }} STATUS current DESCRIPTION "d"
    ::= {{ testRoot 2 2 }}
{extra}
END
"""


def findings_of(text: str) -> list:
    return check.check_set(check.MibSet(parse_text(text, "TEST-MIB.txt")))


def test_the_small_module_is_clean():
    assert findings_of(module()) == []


@pytest.mark.parametrize(("text", "expected"), [
    (module(extra="twin OBJECT IDENTIFIER ::= { testRoot 1 }"),
     "twin: OID 1.3.6.1.4.1.99999.1 is also TEST-MIB::testObjects"),
    (module(extra="lost OBJECT IDENTIFIER ::= { nowhere 1 }"),
     "lost: OID does not resolve (parent nowhere unknown)"),
    (module(entry_index="testIndex, testMissing"),
     "testEntry: INDEX object testMissing does not exist"),
    (module(counter_syntax="Counter99"), "testCount: Counter99 is neither defined nor imported"),
    (module(imports=IMPORTS.replace("DisplayString FROM SNMPv2-TC",
                                    "DisplayString FROM SNMPv2-SMI")),
     "imports DisplayString from SNMPv2-SMI: not known there (it is in SNMPv2-TC)"),
    (module(imports=IMPORTS.replace("OBJECT-GROUP, ", "")),
     "uses OBJECT-GROUP without importing it"),
    (module(entry_syntax="OtherEntry"), "testEntry: SYNTAX should be TestEntry"),
    (module(entry_index=""), "testEntry: no INDEX or AUGMENTS"),
    (module(extra="testLoose OBJECT-TYPE SYNTAX Integer32 MAX-ACCESS readonly STATUS current "
                  "DESCRIPTION \"d\" ::= { testObjects 9 }"),
     "testLoose: MAX-ACCESS readonly is not one of"),
    (module(extra="testBad NOTIFICATION-TYPE OBJECTS { testIndex } STATUS current "
                  "DESCRIPTION \"d\" ::= { testRoot 0 2 }"),
     "testBad: testIndex is not-accessible"),
    (module(extra="testGroup2 OBJECT-GROUP OBJECTS { testGone } STATUS current "
                  "DESCRIPTION \"d\" ::= { testRoot 2 3 }"),
     "testGroup2: testGone does not exist"),
    (module(extra="testName OBJECT IDENTIFIER ::= { testRoot 7 }"),
     "testName defined twice in TEST-MIB"),
])
def test_each_mistake_is_an_error(text, expected):
    found = errors(findings_of(text))
    assert any(message.startswith(expected) for message in found), found


def test_a_sequence_that_misses_a_column_is_a_warning():
    text = module(extra="testExtra OBJECT-TYPE SYNTAX Integer32 MAX-ACCESS read-only "
                        "STATUS current DESCRIPTION \"d\" ::= { testEntry 5 }")
    found = findings_of(text)
    assert errors(found) == []
    assert any("not listed ['testExtra']" in message for message in warnings(found))
    assert "testExtra is in no group" in warnings(found)


def test_a_module_that_cannot_be_read_says_where():
    text = module().replace("    ::= { testObjects 1 }", "    ::= { testObjects 1 }\n~")
    with pytest.raises(ParseError) as caught:
        parse_text(text, "TEST-MIB.txt")
    assert caught.value.path == "TEST-MIB.txt"
    assert caught.value.line == text.splitlines().index("~") + 1
    with pytest.raises(ParseError, match="no END"):
        parse_text(module().replace("END\n", ""), "TEST-MIB.txt")


# -- comparison with a reference -----------------------------------------------------------


@pytest.mark.parametrize(("change", "expected"), [
    (("::= { testEntry 4 }", "::= { testEntry 5 }"), "testCount differs from REF: OID"),
    (("SYNTAX Counter64 MAX", "SYNTAX Counter32 MAX"), "testCount differs from REF: SYNTAX"),
    (("SYNTAX InetAddress MAX-ACCESS read-only", "SYNTAX InetAddress MAX-ACCESS read-write"),
     "testAddress differs from REF: MAX-ACCESS read-only != read-write"),
    (("INDEX { testIndex }", "INDEX { testIndex, testType }"),
     "testEntry differs from REF: INDEX"),
    (("OBJECTS { testName, testCount }", "OBJECTS { testName }"),
     "testEvent differs from REF: OBJECTS"),
])
def test_a_disagreement_with_the_reference_is_an_error(change, expected):
    ours = check.MibSet(parse_text(module(), "OURS"))
    theirs = check.MibSet(parse_text(module().replace(*change), "REF"))
    found = errors(check.compare(ours, theirs))
    assert any(message.startswith(expected) for message in found), found


def test_a_name_the_reference_gives_another_oid_is_an_error():
    ours = check.MibSet(parse_text(module(extra="testNew OBJECT IDENTIFIER ::= { testRoot 3 }"),
                                   "OURS"))
    theirs = check.MibSet(parse_text(module(extra="theirs OBJECT IDENTIFIER ::= { testRoot 3 }"),
                                     "REF"))
    assert errors(check.compare(ours, theirs)) == [
        "testNew: OID 1.3.6.1.4.1.99999.3 is theirs in REF"]


# -- what is served ----------------------------------------------------------------------

ROOT = (1, 3, 6, 1, 4, 1, 99999)
ADDRESS = ROOT + (1, 2, 1, 3)  # testAddress column
COUNT = ROOT + (1, 2, 1, 4)


@pytest.mark.parametrize(("oid", "kind", "expected"), [
    (ROOT + (1, 1, 0), "OctetString", None),
    (ADDRESS + (5,), "OctetString", None),
    (COUNT + (100,), "Counter64", None),
    (ROOT + (1, 1), "OctetString", "scalar testName needs the instance .0"),
    (ROOT + (1, 1, 0), "Integer32", "testName is OctetString (DisplayString), served as Integer32"),
    (COUNT + (5,), "Counter32", "testCount is Counter64 (Counter64), served as Counter32"),
    (COUNT + (5,), "Unsigned64", "kind 'Unsigned64' is not one of"),
    (ROOT + (1, 2, 1, 1, 5), "Integer32", "testIndex is not-accessible"),
    (ROOT + (1, 9, 0), "Integer32", "no object of the MIBs is a prefix of it"),
    (COUNT + (101,), "Counter64", "testCount: index 101: testIndex 101 outside 1..100"),
    (COUNT + (5, 1), "Counter64", "testCount: index 5.1: 1 sub-identifiers left over"),
    (COUNT, "Counter64", "testCount: index : ends before testIndex"),
])
def test_served_rows_are_checked(oid, kind, expected):
    mibs = check.MibSet(parse_text(module(), "TEST-MIB.txt"))
    found = errors(check.check_served(mibs, [(oid, kind)]))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(("suffix", "expected"), [
    ((7, 1, 4, 10, 0, 0, 1), None),
    ((7, 2, 16, *range(16)), None),
    ((7, 5, 4, 10, 0, 0, 1), "testType 5 is not one of its named numbers"),
    ((7, 1, 4, 10, 0, 0), "testAddress says 4 sub-identifiers, 3 left"),
    ((7, 1, 4, 10, 0, 0, 256), "an octet above 255"),
])
def test_string_and_enumerated_indexes_are_decoded(suffix, expected):
    text = module(entry_index="testIndex, testType, testAddress")
    mibs = check.MibSet(parse_text(text, "TEST-MIB.txt"))
    found = errors(check.check_served(mibs, [(COUNT + suffix, "Counter64")]))
    assert found == [] if expected is None else expected in found[0]


def test_accessible_for_notify_objects_only_in_notifications():
    text = module(extra="testNote OBJECT-TYPE SYNTAX Integer32 MAX-ACCESS accessible-for-notify"
                        " STATUS current DESCRIPTION \"d\" ::= { testObjects 3 }")
    mibs = check.MibSet(parse_text(text, "TEST-MIB.txt"))
    served = [(ROOT + (1, 3, 0), "Integer32")]
    assert errors(check.check_served(mibs, served, notify=True)) == []
    assert errors(check.check_served(mibs, served)) == [
        "1.3.6.1.4.1.99999.1.3.0: testNote is accessible-for-notify"]


def test_the_rfc6527_index_is_decoded_with_ifindex_and_a_length_prefixed_address():
    mibs = check.MibSet([rfc6527.module()])
    row = rfc6527.ROOT + (1, 1, 2, 1, 2, 7, 51, 1, 4, 10, 0, 0, 100)
    assert errors(check.check_served(mibs, [(row, "Integer32")])) == []
    keepalived_style = rfc6527.ROOT + (1, 1, 2, 1, 2, 7, 51, 1, 10, 0, 0, 100)
    assert errors(check.check_served(mibs, [(keepalived_style, "Integer32")]))
    assert errors(check.check_served(mibs, [(rfc6527.ROOT + (1, 1, 1, 1, 6, 7, 0, 1),
                                             "Integer32")]))  # VRID 0
