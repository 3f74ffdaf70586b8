"""The upload page in headless Chromium (Debian's chromium + chromium-driver, via Selenium)."""

import os
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _driver():
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not (chromium and chromedriver):
        message = "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1000,1100",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def test_upload_page_shows_overlay_and_percent_masked(server, trained):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from facemask_rcnn.inference import Predictor

    checkpoint, data = trained
    predictor = Predictor.from_checkpoint(checkpoint, min_score=0.05)
    photo = next(p for p in sorted(data.glob("*/*.jpg")) if predictor.predict(p).labels)
    driver = _driver()
    try:
        driver.get(server + "/")
        driver.find_element(By.ID, "score").send_keys("0.05")
        driver.find_element(By.ID, "file").send_keys(str(photo))
        wait = WebDriverWait(driver, 60)
        wait.until(ec.text_to_be_present_in_element((By.ID, "percent"), "% of the image is masked"))
        loaded = "const i = document.getElementById('overlay'); return i.complete && i.naturalWidth"
        wait.until(lambda d: d.execute_script(loaded) > 0)
        assert driver.find_element(By.ID, "error").text == ""
        classes = [
            c.text for c in driver.find_elements(By.CSS_SELECTOR, "#instances td:nth-child(2)")
        ]
        assert classes and set(classes) == {"face_mask"}  # the table names each mask's class
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "serve_upload_page.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "serve_upload_page.png").stat().st_size > 0
