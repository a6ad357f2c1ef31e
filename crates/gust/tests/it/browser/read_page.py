"""Open a page in headless Chromium through Playwright, save a screenshot of it, run axe-core
in it, and print what was read as one JSON object.

Usage: read_page.py URL CHROMIUM AXE_JS SCREENSHOT [CHROMIUM_ARG...]
"""

import json
import sys

from playwright.sync_api import sync_playwright


def main():
    url, chromium, axe_js, screenshot, *args = sys.argv[1:]
    with sync_playwright() as playwright:
        # Debian's Chromium, by path: Playwright downloads no browser of its own.
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            response = page.goto(url)
            text = page.inner_text("body")
            page.screenshot(path=screenshot)
            page.add_script_tag(path=axe_js)
            axe = page.evaluate(
                """async () => {
                    const results = await axe.run(document);
                    return {
                        version: results.testEngine.version,
                        violations: results.violations.map((v) => v.id),
                        passes: results.passes.length,
                    };
                }"""
            )
            print(
                json.dumps(
                    {
                        "status": response.status,
                        "content_type": response.headers.get("content-type"),
                        "browser": browser.version,
                        "text": text,
                        "axe": axe,
                    }
                )
            )
        finally:
            browser.close()


if __name__ == "__main__":
    main()
