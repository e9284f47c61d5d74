"""``raphe check`` rejects impossible protocols with the script's file, line and a clear
message — and never touches an instrument (the rig file below names ports that do not
exist; checking never opens them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raphe.gui.cli import main

ROOT = Path(__file__).resolve().parents[2]

HEADER = "from raphe.protocols import Parameter\n"

#: (name, protocol body, --set arguments, line of the error (None: the parameter's), fragment)
CASES = [
    ('syntax error', '''\
def run(rig, params)
    pass
''', [], 2,
     'syntax error'),
    ('no run function', '''\
metadata = {'name': 'x'}
''', [], None,
     'no run(rig, params)'),
    ("rate outside the syringe's range", '''\
def run(rig, params):
    rig.pump.infuse(5000)
    rig.collect(20)
''', [], 3,
     'outside what the pump drives'),
    ('syringe exhausted', '''\
def run(rig, params):
    rig.pump.infuse(4.0)
    for i in range(20):
        rig.collect(20)
''', [], 5,
     'syringe (1000 µL) runs empty'),
    ('rack exhausted', '''\
def run(rig, params):
    rig.pump.infuse(0.5)
    for i in range(60):
        rig.collect(16, inject=False)
''', [], 5,
     'rack is full'),
    ('interval shorter than the chromatogram', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(20)
    rig.collect(10)
''', [], 5,
     'chromatogram runs 15 min'),
    ('overlapping injections', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.wait(20)
    rig.inject()
    rig.wait(5)
    rig.inject()
''', [], 7,
     'runs would overlap'),
    ('negative duration', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.wait(-5)
    rig.collect(20)
''', [], 4,
     'positive duration'),
    ('zero duration', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(0)
''', [], 4,
     'positive duration'),
    ('unknown route', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(20)
    rig.administer('fluoxetine', 10, 'intranasally')
''', [], 5,
     "unknown route 'intranasally'"),
    ('an exception in the script', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    x = 1 / 0
    rig.collect(20)
''', [], 4,
     'ZeroDivisionError'),
    ('never collects a sample', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.wait(60)
''', [], 2,
     'never collects or injects a sample'),
    ('collects with the pump stopped', '''\
def run(rig, params):
    rig.collect(20)
''', [], 3,
     'not perfusing'),
    ('a default outside its own range', '''\
parameters = [Parameter('flow', 9.0, unit='uL/min', range=(0.1, 5))]
def run(rig, params):
    rig.pump.infuse(params.flow)
    rig.collect(20)
''', [], 2,
     'parameter flow (its default): 9 uL/min is outside 0.1–5 uL/min'),
    ('a parameter set outside its range', '''\
parameters = [Parameter('flow', 1.0, unit='uL/min', range=(0.1, 5))]
def run(rig, params):
    rig.pump.infuse(params.flow)
    rig.collect(20)
''', ['flow=7.5'], 2,
     'parameter flow: 7.5 uL/min is outside 0.1–5 uL/min'),
    ('a parameter of the wrong unit', '''\
parameters = [Parameter('flow', 1.0, unit='uL/min', range=(0.1, 5))]
def run(rig, params):
    rig.pump.infuse(params.flow)
    rig.collect(20)
''', ['flow=2 mg'], 2,
     'wrong dimension'),
    ('a whole number that is not', '''\
parameters = [Parameter('n', 3, range=(1, 10))]
def run(rig, params):
    rig.pump.infuse(1.0)
    for i in range(params.n):
        rig.collect(20)
''', ['n=2.5'], 2,
     'must be a whole number'),
    ('an unknown parameter', '''\
parameters = [Parameter('n', 3, range=(1, 10))]
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(20)
''', ['flow=2'], None,
     "unknown parameter 'flow'"),
    ('a choice that is not offered', '''\
parameters = [Parameter('route', 'ip', choices=('ip', 'sc'))]
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(20)
''', ['route=iv'], 2,
     "unknown value 'iv'"),
    ('an endless loop', '''\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(20)
    rig.pump.stop()
    while True:
        rig.wait(60)
''', [], 7,
     'runs longer than 168.0 h (an endless loop?)'),
]


@pytest.mark.parametrize(("name", "body", "sets", "line", "fragment"), CASES,
                         ids=[c[0] for c in CASES])
def test_check_rejects_with_file_line_and_message(tmp_path, capsys, name, body, sets, line,
                                                  fragment):
    path = tmp_path / "broken.py"
    path.write_text(HEADER + body + "\n", encoding="utf-8")
    args = ["check", str(path)]
    for s in sets:
        args += ["--set", s]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0]
    if line is not None:
        assert f"{path}, line {line}:" in lines[0], lines[0]
    assert fragment in lines[0], lines[0]


def test_check_json_names_file_line_and_message(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text(HEADER + "def run(rig, params):\n    rig.pump.infuse(1.0)\n"
                    "    rig.wait(-1)\n", encoding="utf-8")
    assert main(["check", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    assert out["errors"] == [{"file": str(path), "line": 4,
                              "message": "wait needs a positive duration, got -60 s"}]


def test_checking_never_opens_an_instrument(tmp_path, capsys):
    """A rig file whose ports do not exist: the dry run reads it and opens nothing."""
    rig = tmp_path / "rig.toml"
    rig.write_text('[pump]\ndriver = "ne1000"\nport = "/dev/serial/by-id/absent-pump"\n'
                   "syringe_diameter_mm = 4.61\nsyringe_volume_uL = 1000.0\n"
                   '[valve]\ndriver = "vici"\nport = "/dev/serial/by-id/absent-valve"\n'
                   "loop_volume_uL = 20.0\n"
                   '[detector]\ndriver = "dmm34465a"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
                   "scale_nA_per_V = 10.0\n")
    code = main(["check", "online-monitoring", "--rig", str(rig), "--method", "simulated-5ht",
                 "--set", "inject_every_min=20", "--set", "minutes=120"])
    out = capsys.readouterr().out
    assert code == 0 and "ok: the protocol can run" in out
    path = tmp_path / "no-collector.py"
    path.write_text(HEADER + "def run(rig, params):\n    rig.pump.infuse(1.0)\n"
                    "    rig.collect(20, tube=True)\n", encoding="utf-8")
    assert main(["check", str(path), "--rig", str(rig), "--method", "simulated-5ht"]) == 1
    assert "needs a fraction [collector]" in capsys.readouterr().err


def test_any_compound_and_region_on_a_real_rig_and_what_the_simulated_rig_cannot_model(
        capsys):
    """A real rig takes any compound and region (testing new ones is the point); the
    simulated rig says what its virtual animal cannot model, and still runs."""
    example = str(ROOT / "docs" / "rig.example.toml")
    sets = ["--set", "drug=ketamine", "--set", "region=nucleus-accumbens"]
    assert main(["check", "systemic-drug", "--rig", example, *sets]) == 0
    out = capsys.readouterr()
    assert "ketamine 10 mg/kg i.p." in out.out and "warning" not in out.out + out.err
    assert main(["check", "systemic-drug", "--sim", *sets]) == 0
    out = capsys.readouterr().out
    assert "the simulated animal does not model ketamine: it is given nothing" in out
    assert "does not model 'nucleus-accumbens': its probe is simulated in " \
           "prefrontal-cortex" in out
    assert main(["check", "systemic-drug", "--rig", example, "--set", "drug=Prozac",
                 "--set", "dose_mg_kg=10"]) == 0
    assert "Prozac (fluoxetine) 10 mg/kg i.p." in capsys.readouterr().out


@pytest.mark.parametrize(("requires", "fragment"), [
    ('{"raphe": "2"}', "needs Rig API level '2'; this Raphe runs level 1"),
    ('"1"', 'requires must be a dict naming the Rig API level'),
])
def test_a_protocol_for_another_rig_api_level_is_refused_in_one_line(tmp_path, capsys,
                                                                      requires, fragment):
    path = tmp_path / "future.py"
    path.write_text(f"requires = {requires}\n\n\ndef run(rig, params):\n"
                    "    rig.pump.infuse(1.0)\n    rig.collect(20)\n", encoding="utf-8")
    assert main(["check", str(path)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"{path}, line 1: " in line and fragment in line


def test_the_bundled_protocols_declare_their_rig_api_level():
    from raphe.protocols.protocol import bundled_protocols, load_protocol

    for name in bundled_protocols():
        assert load_protocol(name).api_level == "1", name
