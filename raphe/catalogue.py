"""The names a lab types: compounds, routes and brain regions, for spelling and lookup only.

A real rig accepts any compound and any region — testing new compounds is what
microdialysis is for — and stores them as typed; the catalogue adds the
canonical name when it knows one (``Prozac`` → fluoxetine), and for a known
compound the usual dose and perfusate ranges, so that a dose far outside them
(a slip of a unit) gets a warning in the dry run. Routes are the exception:
what a route means matters to the run (reverse dialysis goes through the
perfusate), so only known routes are accepted.

Ranges are the usual ones in rat microdialysis papers (systemic doses in mg/kg,
reverse-dialysis perfusate concentrations in µM); "far outside" is more than
ten times beyond them. The simulated animal models some of these compounds and
regions; which ones is the simulated rig's to say, not the catalogue's.
"""

from __future__ import annotations

from dataclasses import dataclass

from raphe.names import spelling

#: A dose or concentration this many times beyond a usual range is "far outside" it.
FAR = 10.0


@dataclass(frozen=True)
class Compound:
    """A compound as labs name it, with its usual systemic dose range (mg/kg) and its usual
    perfusate concentration range for reverse dialysis (µM), when known."""

    name: str
    aliases: tuple[str, ...] = ()
    kind: str = ""
    dose_mg_kg: tuple[float, float] | None = None
    perfusate_uM: tuple[float, float] | None = None


COMPOUNDS: tuple[Compound, ...] = (
    Compound("vehicle", ("saline", "veh", "acsf", "control"), "vehicle"),
    Compound("fluoxetine", ("prozac",), "SSRI", (1.0, 30.0), (1.0, 100.0)),
    Compound("citalopram", ("celexa",), "SSRI", (1.0, 20.0), (0.1, 10.0)),
    Compound("escitalopram", ("lexapro", "s-citalopram", "cipralex"), "SSRI", (0.5, 10.0),
             (0.1, 10.0)),
    Compound("paroxetine", ("paxil", "seroxat"), "SSRI", (1.0, 20.0), (0.1, 10.0)),
    Compound("sertraline", ("zoloft",), "SSRI", (2.5, 20.0), (0.1, 10.0)),
    Compound("fluvoxamine", ("luvox",), "SSRI", (5.0, 30.0), (0.5, 50.0)),
    Compound("ipsapirone", (), "5-HT1A partial agonist", (0.03, 10.0), (1.0, 100.0)),
    Compound("buspirone", ("buspar",), "5-HT1A partial agonist", (0.1, 10.0), (1.0, 100.0)),
    Compound("8-oh-dpat", ("dpat", "8ohdpat", "8-ohdpat"), "5-HT1A agonist", (0.01, 1.0),
             (0.1, 30.0)),
    Compound("way-100635", ("way", "way100635", "way-100,635"), "5-HT1A antagonist",
             (0.01, 1.0), (0.1, 100.0)),
    Compound("ketamine", ("ketalar",), "NMDA antagonist", (5.0, 100.0), (10.0, 1000.0)),
    Compound("mdma", ("ecstasy", "3,4-methylenedioxymethamphetamine"), "5-HT releaser",
             (1.0, 20.0), (1.0, 100.0)),
    Compound("fenfluramine", (), "5-HT releaser", (1.0, 10.0), (1.0, 100.0)),
    Compound("cocaine", (), "monoamine uptake inhibitor", (5.0, 30.0), (1.0, 100.0)),
    Compound("venlafaxine", ("effexor",), "SNRI", (3.0, 50.0), (1.0, 100.0)),
    Compound("duloxetine", ("cymbalta",), "SNRI", (1.0, 30.0), (1.0, 100.0)),
    Compound("vortioxetine", ("brintellix", "trintellix"), "multimodal", (1.0, 20.0),
             (0.1, 10.0)),
)

#: Routes: key → (how it is written in a text, aliases).
ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ip": ("i.p.", ("i.p", "intraperitoneal")),
    "sc": ("s.c.", ("s.c", "subcutaneous")),
    "iv": ("i.v.", ("i.v", "intravenous")),
    "im": ("i.m.", ("i.m", "intramuscular")),
    "po": ("p.o.", ("p.o", "oral", "by-mouth", "gavage")),
    "icv": ("i.c.v.", ("i.c.v", "intracerebroventricular")),
    "rd": ("by reverse dialysis", ("reverse-dialysis", "local", "retrodialysis")),
}
#: Routes a drug is given by systemically (``rig.administer``); ``rd`` goes through the
#: perfusate (``rig.switch_perfusate``).
SYSTEMIC = ("ip", "sc", "iv", "im", "po", "icv")


@dataclass(frozen=True)
class Region:
    name: str
    aliases: tuple[str, ...] = ()


REGIONS: tuple[Region, ...] = (
    Region("prefrontal-cortex", ("pfc", "mpfc", "medial-prefrontal-cortex")),
    Region("frontal-cortex", ("fc", "frontal")),
    Region("ventral-hippocampus", ("vhpc", "vhip", "ventral-hippocampal")),
    Region("dorsal-hippocampus", ("dhpc", "dhip", "hippocampus", "dorsal-hippocampal")),
    Region("striatum", ("dorsal-striatum", "caudate-putamen", "cpu")),
    Region("nucleus-accumbens", ("nac", "accumbens", "ventral-striatum")),
    Region("dorsal-raphe", ("drn", "dorsal-raphe-nucleus")),
    Region("median-raphe", ("mrn", "median-raphe-nucleus")),
    Region("amygdala", ("bla", "basolateral-amygdala")),
    Region("hypothalamus", ()),
    Region("lateral-septum", ("ls",)),
    Region("substantia-nigra", ("sn",)),
    Region("ventral-tegmental-area", ("vta",)),
    Region("thalamus", ()),
)


def _index(entries, extra=lambda e: ()) -> dict[str, object]:
    out: dict[str, object] = {}
    for entry in entries:
        for key in (entry.name, *entry.aliases, *extra(entry)):
            out[spelling(key)] = entry
    return out


_COMPOUNDS = _index(COMPOUNDS)
_REGIONS = _index(REGIONS)


def compound(name: str) -> Compound | None:
    """The known compound ``name`` spells (any case, hyphens or underscores, aliases)."""
    return _COMPOUNDS.get(spelling(name))


def region(name: str) -> Region | None:
    """The known region ``name`` spells, or None."""
    return _REGIONS.get(spelling(name))


def route(name: str) -> str:
    """The key (``ip``, ``sc``, ``iv``, ``im``, ``po``, ``icv``, ``rd``) of a route name or
    alias; ValueError naming the known ones otherwise."""
    wanted = name.strip().lower()
    for key, (text, aliases) in ROUTES.items():
        names = {key, text, *aliases}
        if wanted in names or spelling(wanted) in {spelling(n) for n in names}:
            return key
    known = ", ".join(f"{k} ({t})" for k, (t, _) in ROUTES.items())
    raise ValueError(f"unknown route {name!r} (known: {known})")


def route_text(key: str) -> str:
    """How a route is written in an event's text (``i.p.``)."""
    return ROUTES[key][0] if key in ROUTES else key


def named(typed: str) -> tuple[str, str]:
    """(the name to store, the name to show): a known compound's canonical name, shown as
    typed with the canonical name when the two differ (``Prozac (fluoxetine)``); an
    unknown one as typed."""
    typed = " ".join(typed.split())
    known = compound(typed)
    if known is None:
        return typed, typed
    if spelling(typed) == known.name:
        return known.name, known.name
    return known.name, f"{typed} ({known.name})"


def far_outside(value: float, usual: tuple[float, float] | None) -> bool:
    """Whether ``value`` is more than ``FAR`` times beyond the usual range."""
    if usual is None or not value > 0:
        return False
    low, high = usual
    return value > high * FAR or value < low / FAR
