"""Sizes for each variant and paper, in points."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .layout import Paper

PAPER_SIZES = {
    "a4": Paper("a4", 595.276, 841.89),
    "letter": Paper("letter", 612.0, 792.0),
}


@dataclass(frozen=True)
class Metrics:
    title: float  # title on the first page
    heading: float  # titles of later pages and of the demographics page
    body: float  # instruction, consent, prompts, ideas, questions
    label: float  # answer labels and option labels
    footer: float  # serial and page
    box: float  # tick box side
    answer_column: float  # narrowest column of agree / disagree / unsure boxes
    writing: float  # height of a writing area
    rule_gap: float  # distance between the guide lines in a writing area
    gap: float  # between blocks
    option_columns: int  # demographic options per row
    symbols: bool  # draw tick / cross / question mark beside the answer boxes
    one_sentence_per_line: bool
    leading: float = 1.5  # line distance, times the size
    margin: float = 50.0
    mark: float = 14.0  # side of the solid alignment squares
    mark_inset: float = 22.0  # from the paper edge to a mark
    qr: float = 64.0  # side of the QR symbol


VARIANT_METRICS = {
    "standard": Metrics(
        title=18,
        heading=13,
        body=11,
        label=10,
        footer=9,
        box=14,
        answer_column=52,
        writing=100,
        rule_gap=24,
        gap=12,
        option_columns=3,
        symbols=False,
        one_sentence_per_line=False,
    ),
    "large": Metrics(
        title=26,
        heading=20,
        body=16,
        label=16,
        footer=16,
        box=24,
        answer_column=84,
        writing=150,
        rule_gap=34,
        gap=18,
        option_columns=2,
        symbols=False,
        one_sentence_per_line=False,
    ),
    "easy": Metrics(
        title=22,
        heading=18,
        body=16,
        label=16,
        footer=12,
        box=26,
        answer_column=84,
        writing=140,
        rule_gap=34,
        gap=20,
        option_columns=2,
        symbols=True,
        one_sentence_per_line=True,
        leading=1.6,
    ),
}


#: Bengali, Gurmukhi and Gujarati letters are small for their point size beside Latin in
#: Kurinto Sans (the headline sits near the Latin x-height), so their text is set larger.
SCRIPT_SCALE = {"bn": 1.12, "pa": 1.12, "gu": 1.12}


def metrics_for(variant: str, language: str) -> Metrics:
    """The variant's sizes, with text scaled up for scripts that need it."""
    metrics = VARIANT_METRICS[variant]
    scale = SCRIPT_SCALE.get(language, 1.0)
    if scale == 1.0:
        return metrics
    return replace(
        metrics,
        title=round(metrics.title * scale, 1),
        heading=round(metrics.heading * scale, 1),
        body=round(metrics.body * scale, 1),
        label=round(metrics.label * scale, 1),
    )
