"""The words pages show for the PDSA and chart codes (stages, decisions, purposes, ramp statuses,
signal variations and kinds), in one place so every page says the same thing. Registered as template
globals by web/filters.py."""

from __future__ import annotations

from flask_babel import lazy_gettext

PDSA_STAGES = {
    "plan": lazy_gettext("Planera"),
    "do": lazy_gettext("Göra"),
    "study": lazy_gettext("Studera"),
    "act": lazy_gettext("Agera"),
    "done": lazy_gettext("Avslutad"),
}
"""A cycle's ``stage`` is the step it waits for next; ``done`` when the Act is taken."""
ACT_DECISIONS = {"adopt": lazy_gettext("Införa"), "adapt": lazy_gettext("Anpassa"), "abandon": lazy_gettext("Överge")}
PURPOSES = {
    "collect_information": lazy_gettext("Samla information"),
    "develop": lazy_gettext("Utveckla en förändring"),
    "test": lazy_gettext("Testa en förändring"),
    "implement": lazy_gettext("Införa en förändring"),
}
RAMP_STATUSES = {
    "active": lazy_gettext("Pågår"),
    "adopted": lazy_gettext("Införd"),
    "abandoned": lazy_gettext("Övergiven"),
}
SIGNALS = {
    "improvement": lazy_gettext("Förbättring"),
    "concern": lazy_gettext("Försämring"),
    "neutral": lazy_gettext("Neutral"),
}
"""A measure's signal in words (a colour is never the only cue); no signal is "Ingen signal"."""
SIGNAL_KINDS = {
    "shift": lazy_gettext("Skift"),
    "trend": lazy_gettext("Trend"),
    "too_many_runs": lazy_gettext("För många serier"),
    "too_few_runs": lazy_gettext("För få serier"),
    "beyond_limit": lazy_gettext("Punkt utanför styrgränsen"),
    "two_of_three": lazy_gettext("Två av tre nära gränsen"),
    "long_run": lazy_gettext("Ovanligt lång serie"),
    "few_crossings": lazy_gettext("För få korsningar av medianen"),
}

GLOBALS = {
    "PDSA_STAGES": PDSA_STAGES,
    "ACT_DECISIONS": ACT_DECISIONS,
    "PURPOSES": PURPOSES,
    "RAMP_STATUSES": RAMP_STATUSES,
    "SIGNALS": SIGNALS,
    "SIGNAL_KINDS": SIGNAL_KINDS,
}
