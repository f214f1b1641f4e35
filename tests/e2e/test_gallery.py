"""The demo gallery in a real browser: sign in, upload a painting, see it served cloaked, get a clear refusal.

Headless Debian Chromium (``/usr/bin/chromium``, installed by the Makefile's install step) driven by
Playwright's Python package. The gallery runs as its own process (``manage.py runserver`` on
127.0.0.1): Django can be configured once per process, and the adapter tests already configured it
here. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from stylecloak import is_cloaked
from stylecloak.engine.presets import INTENSITY

from tests.conftest import ART, ROOT, encoded, fast_env, painting

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("django")

GALLERY = ROOT / "examples" / "gallery"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIST, PASSWORD = "ada", "correct horse battery staple"
# The first cloak in the gallery's process loads torch and the extractor: minutes on a busy CI machine.
CLOAK_TIMEOUT_MS = 300_000

pytestmark = pytest.mark.timeout(900)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=GALLERY, env=env, check=True, capture_output=True)


MARKER_KEY = "gallery-tests-marker-key"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, shared_models: Path, session_cache: Path) -> Iterator[str]:
    """The gallery on a free port, with fast cloak settings and an artist who already has two paintings."""
    data = tmp_path_factory.mktemp("gallery")
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("STYLECLOAK_")},
        "GALLERY_DATA_DIR": str(data),
        "GALLERY_CLOAK_OPTIONS": json.dumps({"steps": 2}),
        **fast_env(shared_models, session_cache),
        # The gallery shares the CPU with this test process: one torch thread each avoids oversubscription.
        "STYLECLOAK_THREADS": "1",
        # The platform's marker key: this test checks the gallery's cloaks with it.
        "STYLECLOAK_MARKER_KEY": MARKER_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    manage(env, "migrate", "--noinput")
    samples = data / "samples"
    samples.mkdir()
    for name in ("shipwreck.jpg", "the_scream.jpg"):
        if (ART / name).is_file():
            # Smaller copies: the test is about the browser's path, and each seeded cloak is a real one.
            with Image.open(ART / name) as image:
                image.convert("RGB").resize(_fit(image.size, 480)).save(samples / name, quality=92)
        else:
            (samples / name).write_bytes(encoded(painting(480, 360, seed=len(name)), "JPEG", quality=92))
    manage(env, "seed_gallery", ARTIST, "--password", PASSWORD, "--samples", str(samples))
    port = free_port()
    log = (data / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=GALLERY,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gallery did not start:\n" + (data / "server.log").read_text())
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: the install step should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def painting_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The painting to upload, as PNG so the served file can be compared pixel for pixel."""
    path = tmp_path_factory.mktemp("upload") / "starry_night.png"
    source = ART / "starry_night.jpg"
    if source.is_file():
        with Image.open(source) as image:
            image.convert("RGB").resize(_fit(image.size, 640)).save(path, format="PNG")
    else:
        path.write_bytes(encoded(painting(800, 500, seed=7), "PNG"))
    return path


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    scale = min(1.0, longest / max(size))
    return round(size[0] * scale), round(size[1] * scale)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/accounts/login/?next=/upload/")
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noai, noimageai"
    page.fill("#id_username", ARTIST)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(base + "/upload/")


def test_an_artist_uploads_a_painting_and_it_is_served_cloaked(gallery: str, browser, painting_png: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(30_000)
    sign_in(page, gallery)

    page.fill("#id_title", "The Starry Night")
    page.fill("#id_description", "Oil on canvas, painted from memory of the view from my window.")
    page.set_input_files("#id_image", str(painting_png))
    with page.expect_navigation(url=f"{gallery}/artworks/*/", timeout=CLOAK_TIMEOUT_MS):
        page.click("#upload-button", timeout=CLOAK_TIMEOUT_MS)

    assert page.locator(".meta .badge").inner_text().strip() == "Protected"
    assert page.locator('[data-fact="target-style"]').inner_text().strip()
    assert page.locator('[data-fact="intensity"]').inner_text().strip().lower() == "default"
    assert page.locator('[data-fact="seconds"]').inner_text().endswith("s")
    assert page.locator("#before-after .private").is_visible()  # the owner's before/after view
    page.wait_for_function("document.querySelector('#difference').naturalWidth > 0")
    page.locator("#compare input").fill("30")

    served = page.request.get(gallery + page.get_attribute("#artwork-image", "src"))
    assert served.ok and served.headers["content-type"] == "image/png"
    assert served.headers["x-robots-tag"] == "noai, noimageai" and served.headers["tdm-reservation"] == "1"
    cloaked = served.body()
    original = painting_png.read_bytes()
    assert is_cloaked(cloaked, key=MARKER_KEY) and not is_cloaked(original, key=MARKER_KEY)
    change = np.abs(pixels(cloaked) - pixels(original))
    assert pixels(cloaked).shape == pixels(original).shape
    # Lossless PNG, so this is the cloak itself: small on average, and bounded. The bound allows for the
    # bicubic upsampling of δ from the working grid, which can overshoot the L∞ rail (reported upstream).
    linf = INTENSITY["default"].linf * 255
    assert 0 < change.mean() < linf / 2 and 0 < change.max() <= 1.5 * linf
    ssim = float(page.locator('[data-fact="ssim"]').inner_text().split()[0])
    assert ssim >= 1 - INTENSITY["default"].ssim_p - 0.005  # the perceptual budget, as the report measured it
    own = page.request.get(gallery + page.get_attribute("#compare img", "src"))
    assert own.body() == original  # the owner's original, kept privately and intact

    rules = page.request.get(gallery + "/.well-known/tdmrep.json").json()
    assert rules[0]["tdm-reservation"] == 1
    assert screenshot(page, "gallery-artwork.png").stat().st_size > 10_000

    page.goto(gallery + "/me/")
    assert page.locator(".card").count() == 3 and page.locator('.card [data-protection="protected"]').count() == 3
    screenshot(page, "gallery-my-gallery.png")
    page.goto(gallery + "/")
    assert page.locator(".hero h1").is_visible()
    screenshot(page, "gallery-explore.png")
    page.close()


def test_a_non_image_upload_gets_a_clear_error_and_nothing_is_stored(gallery: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(30_000)
    sign_in(page, gallery)
    before = httpx.get(gallery + "/").text.count('class="card"')
    fake = tmp_path / "sunflowers.png"
    fake.write_text("These are my notes about sunflowers, not a picture of them.\n")

    page.fill("#id_title", "Sunflowers")
    page.set_input_files("#id_image", str(fake))
    with page.expect_navigation(timeout=CLOAK_TIMEOUT_MS) as navigation:
        page.click("#upload-button", timeout=CLOAK_TIMEOUT_MS)
    assert navigation.value.status == 415
    error = page.locator("#upload-error").inner_text()
    assert "sunflowers.png" in error and "not an image" in error
    assert page.locator(".refused h1").inner_text() == "That upload was not accepted"
    screenshot(page, "gallery-refused.png")
    assert httpx.get(gallery + "/").text.count('class="card"') == before
    page.close()
