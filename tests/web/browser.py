"""What the dashboard's browser tests share: Debian's Chromium, screenshots, and axe-core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.async_api import Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BASE_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync", "--no-first-run"]


async def screenshot_all_ways(page: Page, name: str) -> list[Path]:
    """The current page in light and dark, at desktop and phone widths (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await page.set_viewport_size(size)
            await page.wait_for_timeout(50)  # charts redraw on resize
            path = SCREENSHOTS / f"{name}-{scheme}-{label}.png"
            await page.screenshot(path=str(path), full_page=True)
            taken.append(path)
    await page.emulate_media(color_scheme="light")
    await page.set_viewport_size(DESKTOP)
    return taken


async def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations of the page at or above the given impacts."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())  # evaluate, not a script tag: the page's CSP stays as it is
    result = await page.evaluate(
        """async () => {
          const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
          const r = await axe.run(document, { runOnly: { type: "tag", values: tags } });
          return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")) }));
        }"""
    )
    return [v for v in result if v["impact"] in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=2)
