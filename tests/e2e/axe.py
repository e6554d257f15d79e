"""axe-core, the accessibility engine behind Lighthouse, run in the page against WCAG 2.1 A and AA: each
violation as one line that names the rule, how serious it is, and the elements it found."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# A dialog fading in has colours half-way: axe would measure those. Endless animations (the thinking dots)
# never settle and are left alone.
SETTLED = """() => document.getAnimations().every(
    (a) => a.playState !== "running" || a.effect.getComputedTiming().endTime === Infinity)"""

RUN = r"""async (tags) => {
    const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]};
    const result = await axe.run(document, options);
    const where = (n) => n.target.join(" ") + " — " + (n.failureSummary || "").split("\n").slice(1).join(" ");
    const line = (v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(where)});
    return result.violations.map(line);
}"""


def violations(page: Page) -> list[str]:
    """What axe finds on the page once its transitions end; [] when nothing."""
    page.wait_for_function(SETTLED)
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(path=str(AXE))
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} nodes: " + " | ".join(v["nodes"][:6])
        for v in page.evaluate(RUN, WCAG_21_AA)
    ]
