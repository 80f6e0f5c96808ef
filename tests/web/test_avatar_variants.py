"""Other avatars in the browser: a foreign-style GLB (morphs named `blendShape1.mouthSmile_L`, most ARKit
shapes missing, a calibration sidecar) loads in <mien-avatar>; its morphs follow the server's frames through
the naming rule and the calibration; the missing shapes are reported once. Plus the naming rule in JS against
the vectors the Python tests use. Debian's chromium, headless; waits are on conditions, never sleeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route

from animation.arkit import ARKIT_52
from server.runner import LiveServer
from tests.models.foreign import foreign_glb
from tests.web.browsing import AVATAR, new_page, wait_ready, wait_until

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "models" / "avatar_names.json").read_text())
CALIBRATION = {"gain": {"mouthSmile_L": 0.5}}  # a variant name as the key: normalised like morph names
# The morph influences now shown on the foreign mesh, with the frame's blendshapes, read in one go (so both
# belong to the same animation frame).
READ = """async () => {
  const { liveFaces } = await import('/web/face.js');
  const [face] = [...liveFaces];
  const [mesh] = face.influences();
  return { morphs: mesh.morphs, shapes: document.querySelector('mien-avatar').blendshapes };
}"""


@pytest.fixture
def page(browser: Browser, mien: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    """Mien's page with its head swapped for the foreign avatar (served by routing); yields the page and its
    console. (The page itself comes from the server: Chromium refuses a routed page's socket to loopback.)"""
    connects = "window.__connects = 0; document.addEventListener('connect', () => window.__connects++, true);"
    page = new_page(browser, scripts=(connects,), viewport={"width": 400, "height": 400})
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))  # Mien's own head logs tongueOut
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    glb = foreign_glb()

    def serve(route: Route) -> None:
        name = route.request.url.rsplit("/", 1)[-1]
        if name == "foreign.glb":
            route.fulfill(body=glb, content_type="model/gltf-binary")
        elif name == "foreign.calibration.json":
            route.fulfill(body=json.dumps(CALIBRATION), content_type="application/json")
        else:
            route.fulfill(status=404)

    page.route("**/variants/*", serve)
    page.goto(mien.http_url)
    wait_ready(page)
    page.evaluate(f"{AVATAR}.setAttribute('model', '/variants/foreign.glb')")
    wait_until(page, f"async () => 'Basis' in (await ({READ})()).morphs")
    yield page, console
    page.context.close()
    assert not [m for m in console if m.startswith(("error", "pageerror"))]


def missing_reports(console: list[str]) -> list[str]:
    """Missing-shape reports about the foreign head (Mien's own head, loaded first, lacks only tongueOut)."""
    return [m for m in console if "no morph target for" in m and "eyeBlinkLeft" in m]


def test_a_foreign_avatar_follows_the_frames_through_its_names_and_calibration(
    page: tuple[Page, list[str]], mien: LiveServer
) -> None:
    page_, console = page
    now = page_.evaluate(READ)
    assert set(now["morphs"]) == {"blendShape1.mouthSmile_L", "blendShape1.mouthSmile_R", "jawOpen", "Basis"}
    assert max(now["morphs"].values()) < 0.05  # at rest

    # Joy: both smile morphs move; the left one at half the frame's weight (the sidecar's gain).
    page_.evaluate(f"{AVATAR}.setEmotion('joy', 1, 30)")
    wait_until(page_, f"async () => (await ({READ})()).morphs['blendShape1.mouthSmile_R'] > 0.5")
    now = page_.evaluate(READ)
    right, left = now["shapes"]["mouthSmileRight"], now["shapes"]["mouthSmileLeft"]
    assert now["morphs"]["blendShape1.mouthSmile_R"] == pytest.approx(right, abs=1e-6)
    assert now["morphs"]["blendShape1.mouthSmile_L"] == pytest.approx(0.5 * left, abs=1e-6)
    assert now["morphs"]["Basis"] == 0  # maps to no channel: never driven

    # Surprise opens the jaw: the exactly named morph follows jawOpen.
    page_.evaluate(f"{AVATAR}.setEmotion('surprise', 1, 30)")
    wait_until(page_, f"async () => (await ({READ})()).morphs.jawOpen > 0.2")
    now = page_.evaluate(READ)
    assert now["morphs"]["jawOpen"] == pytest.approx(now["shapes"]["jawOpen"], abs=1e-6)

    # The missing shapes were reported once, naming what is missing and not what was found; a reconnect
    # (a new session binds the head again) does not report them again.
    (report,) = missing_reports(console)
    reported = set(report.split("no morph target for ", 1)[1].split(", "))
    assert reported == set(ARKIT_52) - {"mouthSmileLeft", "mouthSmileRight", "jawOpen"}
    connects = page_.evaluate("window.__connects")
    page_.evaluate(f"{AVATAR}.setAttribute('server', {json.dumps(mien.http_url)})")
    wait_until(page_, "(n) => window.__connects > n", connects)  # bound again
    page_.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    assert len(missing_reports(console)) == 1


def test_the_naming_rule_in_js_matches_the_shared_vectors(page: tuple[Page, list[str]]) -> None:
    page_, _ = page
    got = page_.evaluate(
        """async ([vectors, names]) => {
          const { arkitName, bindTargets } = await import('/web/avatar-names.js');
          const bound = vectors.bindings.map(({ targets }) => {
            const dict = Object.fromEntries(targets.map((t, i) => [t, i]));
            return Object.fromEntries([...bindTargets(dict, names)].map(([c, m]) => [names[c], m]));
          });
          return { names: vectors.names.map(({ raw }) => arkitName(raw, names)), bound };
        }""",
        [VECTORS, list(ARKIT_52)],
    )
    assert got["names"] == [case["arkit"] for case in VECTORS["names"]]
    assert got["bound"] == [case["bound"] for case in VECTORS["bindings"]]
