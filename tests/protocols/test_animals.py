"""Several animals on one HPLC: their parameters, their slots, the dry run that proves their
chromatograms never overlap, and the rig file that declares them."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from raphe.drivers.rig_file import load_rig
from raphe.errors import InputError
from raphe.protocols.animals import animal_ids, check_animals, slot_s, split_assignments
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import simulated_spec
from raphe.protocols.shared_run import animal_view, sim_animals

SHORT = ["equilibration_min=10", "baseline_samples=2", "post_samples=2"]


def _specs(ids):
    spec = dataclasses.replace(simulated_spec(), roles=frozenset(
        ("pump", "valve", "selector", "detector")), rack_size=None)
    return {a: spec for a in ids}


def test_ids_are_a1_to_an_or_the_rig_files():
    assert animal_ids(3) == ["A1", "A2", "A3"]
    assert animal_ids(2, ["rat-17", "rat 18"]) == ["rat-17", "rat 18"]
    with pytest.raises(InputError, match="from 1 to 4"):
        animal_ids(5)
    with pytest.raises(InputError, match="distinct"):
        animal_ids(2, ["R1", "R1"])


def test_set_applies_to_every_animal_or_one():
    given = split_assignments(["drug=vehicle", "A2:drug=ipsapirone", "A2:dose-mg-kg=1",
                               "rat-3:route=sc"], ["A1", "A2", "rat-3"])
    assert given["A1"] == {"drug": "vehicle"}
    assert given["A2"] == {"drug": "ipsapirone", "dose_mg_kg": "1"}
    assert given["rat-3"] == {"drug": "vehicle", "route": "sc"}
    with pytest.raises(InputError, match="no animal 'A4'"):
        split_assignments(["A4:drug=x"], ["A1", "A2"])
    with pytest.raises(InputError, match="NAME=VALUE"):
        split_assignments(["A2:drug"], ["A1", "A2"])


def test_four_animals_with_a_15_min_method_at_20_min_samples_are_refused_naming_the_collision():
    ids = animal_ids(4)
    protocol = load_protocol("systemic-drug")
    plan = check_animals(protocol, split_assignments(SHORT, ids), _specs(ids),
                         run_length_s=900.0, method_name="5ht-ecd")
    assert not plan.ok
    (error,) = plan.errors
    text = str(error)
    # the first two injections that come too close, by animal and sample, and why
    assert "A2's B1" in text and "A1's B2" in text
    assert "4.2 min apart" in text and "a chromatogram runs 15 min (method 5ht-ecd)" in text
    assert "4 animals × 15.75 min slots do not fit in 20-min samples" in text


def test_animals_that_fit_are_staggered_by_one_slot_and_never_closer_than_a_run():
    ids = animal_ids(3)
    protocol = load_protocol("systemic-drug")
    given = split_assignments(SHORT + ["A1:drug=vehicle", "A2:drug=ipsapirone",
                                       "A3:drug=fluoxetine"], ids)
    plan = check_animals(protocol, given, _specs(ids), run_length_s=360.0)
    assert plan.ok, plan.errors
    slot = slot_s(360.0)
    assert [a.offset_s for a in plan.animals] == [0.0, slot, 2 * slot]
    times = [t for t, _, _ in plan.injections()]
    assert len(times) == 3 * 4
    assert min(b - a for a, b in itertools.pairwise(times)) >= 360.0
    # each animal's own schedule is the single-animal one; the run's is shifted by its slot
    for part in plan.animals:
        assert [s.inject_t for s in part.plan.samples] == pytest.approx(
            [s.inject_t + part.offset_s for s in part.own.samples])
    drugs = [part.plan.drugs[0].t for part in plan.animals]
    assert drugs[1] - drugs[0] == pytest.approx(slot)
    assert "ipsapirone" in plan.animals[1].plan.drugs[0].text


def test_a_bad_parameter_of_one_animal_is_named_with_its_animal():
    ids = animal_ids(2)
    plan = check_animals(load_protocol("systemic-drug"),
                         split_assignments(SHORT + ["A2:interval_min=2"], ids), _specs(ids),
                         run_length_s=360.0)
    assert not plan.ok
    assert str(plan.errors[0]).count("A2:") == 1 and "interval_min" in str(plan.errors[0])


RIG = """
[pump]
driver = "ne1000"
port = "/dev/ttyUSB0"
address = 0
syringe_diameter_mm = 4.61
syringe_volume_uL = 1000

[pump_b]
driver = "ne1000"
port = "/dev/ttyUSB1"
syringe_diameter_mm = 3.26
syringe_volume_uL = 500

[selector]
driver = "vici_selector"
port = "/dev/ttyUSB2"
positions = 4

[valve]
driver = "vici"
port = "/dev/ttyUSB3"
loop_volume_uL = 10

[detector]
driver = "dmm34465a"
resource = "TCPIP::127.0.0.1::5025::SOCKET"
scale_nA_per_V = 10.0

[[animals]]
id = "rat-17"
pump = "pump"
stream = 1
region = "ventral-hippocampus"

[[animals]]
id = "rat-18"
pump = "pump_b"
stream = 3
"""


def test_a_rig_file_declares_its_animals_and_each_sees_its_own_pump():
    config = load_rig(RIG, source="rig.toml")
    assert [(a.id, a.pump, a.stream) for a in config.animals] == [
        ("rat-17", "pump", 1), ("rat-18", "pump_b", 3)]
    assert config.animals[0].region == "ventral-hippocampus"
    view = animal_view(config, config.animals[1])
    assert view.roles["pump"] == config.roles["pump_b"]
    assert "pump_b" not in view.roles and "selector" in view.roles
    assert config.opening_order().index("pump_b") == config.opening_order().index("pump") + 1


@pytest.mark.parametrize("change, message", [
    (("stream = 3", "stream = 7"), "stream must be a selector position from 1 to 4"),
    (('pump = "pump_b"', 'pump = "pump_c"'), "no pump table [pump_c]"),
    (('id = "rat-18"', 'id = "rat-17"'), "two animals have the same id"),
    (('stream = 3', 'stream = 1'), "two animals have the same stream"),
    (('region = "ventral-hippocampus"', 'sex = "m"'), "unknown key 'sex'"),
    (("[pump_b]", "[pumpb]"), "unknown table [pumpb]"),
])
def test_a_wrong_animal_declaration_is_one_clear_message(change, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_rig(RIG.replace(*change), source="rig.toml")


def test_animals_need_a_selector():
    text = RIG.replace('[selector]\ndriver = "vici_selector"\nport = "/dev/ttyUSB2"\n'
                       'positions = 4\n', "")
    with pytest.raises(InputError, match="add a \\[selector\\]"):
        load_rig(text, source="rig.toml")


def test_the_simulated_animals_are_a1_to_an_on_their_own_pumps_and_streams():
    assert [(a.id, a.pump, a.stream) for a in sim_animals(3)] == [
        ("A1", "pump", 1), ("A2", "pump_2", 2), ("A3", "pump_3", 3)]
