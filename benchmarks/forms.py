"""Paper forms: sheets per second for 200-sheet print runs, against a bare ReportLab loop.

For each language the full consultation form (title, instruction, consent, two prompts,
five ideas, three demographic questions: two or three pages a sheet) is printed as one
PDF of N sheets. The bare loop draws the same pages in the same process: the same
strings with plain ``canvas.drawString`` in the same Kurinto font (no shaping, no bidi,
so wrong for Urdu and Bengali), the same rectangles (boxes, writing areas, marks) and
the same page label, with the same compression, but no QR code at all.

    python benchmarks/forms.py                      # 200 sheets, en pl ur bn
    python benchmarks/forms.py --sheets 50 --repeat 1
    python benchmarks/forms.py --shuffle            # idea order varies per sheet

Targets on the 2-core reference machine: at least 100 sheets/s in every language, and at
least half the bare loop's rate.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from paper_support import sample_spec  # noqa: E402 - the tests' sample consultation

from paper_forms import render  # noqa: E402
from paper_forms.compose import Composer  # noqa: E402
from paper_forms.draw import ShapeItem, TextItem  # noqa: E402
from paper_forms.fonts import kurinto_path  # noqa: E402
from paper_forms.printing import shapers  # noqa: E402
from paper_forms.styles import PAPER_SIZES  # noqa: E402


def timed_render(spec, sheets: int, shuffle: bool) -> tuple[float, int]:
    out = io.BytesIO()
    start = time.perf_counter()
    render(spec, sheets, out, shuffle_ideas=shuffle, seed=1)
    return time.perf_counter() - start, len(out.getvalue())


def bare_fonts() -> dict[str, str]:
    names = {}
    for weight in ("regular", "bold"):
        name = f"Bare-Kurinto-{weight}"
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(kurinto_path(weight))))
        names[weight] = name
    return names


def timed_bare(spec, sheets: int) -> tuple[float, int]:
    """The same strings and rectangles with plain canvas calls, and no QR code."""
    fonts = bare_fonts()
    composer = Composer(spec, shapers())
    pages = composer.compose(tuple(idea.id for idea in spec.ideas))
    paper = PAPER_SIZES[spec.paper]
    out = io.BytesIO()
    start = time.perf_counter()
    canvas = Canvas(out, pagesize=(paper.width, paper.height), pageCompression=1, invariant=1)
    for serial in range(1, sheets + 1):
        for page in pages:
            for item in page.items:
                if isinstance(item, TextItem):
                    canvas.setFont(fonts[item.face.weight], item.size)
                    canvas.drawString(item.x, item.y, item.line.text)
                elif isinstance(item, ShapeItem):
                    r = item.rect
                    canvas.rect(r.x, r.y, r.width, r.height, fill=item.kind == "mark")
            canvas.setFont(fonts["regular"], composer.m.footer)
            label = f"{spec.form_id} · {serial} · {page.layout.page}/{len(pages)}"
            canvas.drawCentredString(paper.width / 2, composer.label_rect.y + 4, label)
            canvas.showPage()
    canvas.save()
    return time.perf_counter() - start, len(out.getvalue())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheets", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--languages", nargs="+", default=["en", "pl", "ur", "bn"])
    parser.add_argument("--variant", default="standard", choices=["standard", "large", "easy"])
    parser.add_argument("--shuffle", action="store_true", help="vary the idea order per sheet")
    args = parser.parse_args(argv)

    print(
        f"{args.sheets} sheets per run, median of {args.repeat}, variant {args.variant}"
        f"{', ideas shuffled' if args.shuffle else ''}"
    )
    header = "lang  pages/sheet  first run s/s  sheets/s  bare s/s  ratio  PDF KiB"
    print(header)
    print("-" * len(header))
    ok = True
    for language in args.languages:
        spec = sample_spec(language, variant=args.variant)
        first, _ = timed_render(spec, args.sheets, args.shuffle)
        ours = [timed_render(spec, args.sheets, args.shuffle) for _ in range(args.repeat)]
        bare = [timed_bare(spec, args.sheets) for _ in range(args.repeat)]
        ours_rate = args.sheets / statistics.median(t for t, _ in ours)
        bare_rate = args.sheets / statistics.median(t for t, _ in bare)
        pages = len(Composer(spec, shapers()).compose(tuple(i.id for i in spec.ideas)))
        ratio = ours_rate / bare_rate
        ok = ok and ours_rate >= 100 and ratio >= 0.5
        print(
            f"{language:4}  {pages:11}  {args.sheets / first:13.0f}  {ours_rate:8.0f}"
            f"  {bare_rate:8.0f}  {ratio:5.2f}  {ours[0][1] / 1024:7.0f}"
        )
    print("targets met" if ok else "TARGETS MISSED: >= 100 sheets/s and >= 0.5 of bare")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
