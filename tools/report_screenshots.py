"""Screenshots of reports as a reader opens them: headless Chromium, 1280 px wide.

For each HTML report given, writes ``OUT/<name>.png`` (the first screen, 1280 x 800)
and ``OUT/<name>_full.png`` (the whole page, with ``--full``), and prints the page
width, whether the summary is in the first screen and any console error. ``name``
is the report's folder name (``sirt_spect/report.html`` → ``sirt_spect``).
Exit code 1 when a page is wider than the window, logs an error or has no summary
in the first screen.

Usage::

    .venv/bin/python tools/report_screenshots.py -o docs/reports demo_output/sirt_spect/report.html \
        demo_output/margins/report.html demo_output/qa/report.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workstation.report.browser import check_page, open_browser  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report.html files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--full", action="store_true", help="also a full-page screenshot")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    ok = True
    with open_browser(args.width, args.height) as page:
        for html in args.reports:
            name = html.parent.name if html.stem == "report" else html.stem
            shot = args.output / f"{name}.png"
            full = args.output / f"{name}_full.png" if args.full else None
            check = check_page(page, html, screenshot=shot, full_page_screenshot=full)
            good = not check.overflows and not check.console_errors and check.summary_in_first_screen
            ok &= good
            print(f"{'ok  ' if good else 'FAIL'} {html}: page {check.scroll_width_px} px in a "
                  f"{check.window_width_px} px window, summary at {check.summary_top_px} px, "
                  f"{len(check.console_errors)} console errors -> {shot}")
            for err in check.console_errors:
                print(f"     console: {err}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
