"""The console in a real browser (Chromium, driven by Playwright): sign in, create a function,
deploy a Python folder and watch its build log, run the test panel, open the execution and its
waterfall, tail logs while an async execution runs, add a cron trigger and see its next times,
see a dead letter and replay it, sign out and be refused. axe-core checks each page (no serious
or critical violation), each page is photographed, and its weight (HTML, CSS, JS) printed.

Usage: python scenario.py URL TOKEN CHROMIUM AXE_JS SHOTS_DIR PACKAGE BROKEN_PACKAGE [ARGS...]
Prints `passed` at the end; any failure raises.
"""

import base64
import json
import os
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

URL, TOKEN, CHROMIUM, AXE, SHOTS, PACKAGE, BROKEN = sys.argv[1:8]
LAUNCH_ARGS = sys.argv[8:]
AXE_SOURCE = open(AXE, encoding="utf-8").read()
NS = "default"
FN = "hello-py"

failures = []
weights = {}


def api(method, path, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(URL + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + TOKEN)
    for k, v in (headers or {"content-type": "application/json"}).items():
        request.add_header(k, v)
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return json.loads(text) if text else None


def asset_bytes(page):
    total = {"css": 0, "js": 0}
    for kind, selector, attr in (("css", 'link[rel="stylesheet"]', "href"), ("js", "script[src]", "src")):
        for href in page.eval_on_selector_all(selector, "(els, a) => els.map(e => e.getAttribute(a))", attr):
            with urllib.request.urlopen(URL + href, timeout=30) as r:
                total[kind] += len(r.read())
    return total


def check(page, name):
    """axe-core on the page as it is now, a screenshot, and its weight."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern.
    page.evaluate(AXE_SOURCE + "\n;true")
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    for v in bad:
        failures.append(f"{name}: axe {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}")
    page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)
    html = len(page.content().encode())
    assets = asset_bytes(page)
    weights[name] = (html, assets["css"], assets["js"])
    print(f"checked {name}: {len(result)} axe findings, {len(bad)} serious or critical", flush=True)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)

        # Sign in.
        page.goto(URL + "/console/")
        expect(page).to_have_url(URL + "/console/signin?next=/console/namespaces")
        check(page, "signin")
        page.get_by_label("Token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Namespaces")).to_be_visible()
        check(page, "namespaces")

        # Create a function.
        page.get_by_role("link", name="default", exact=True).first.click()
        expect(page.get_by_role("heading", name="Functions of default")).to_be_visible()
        page.get_by_role("link", name="New function").click()
        check(page, "function-new")
        page.get_by_label("Name", exact=True).fill(FN)
        page.get_by_label("Runtime", exact=True).select_option("python3.11")
        page.get_by_role("button", name="Create function").click()
        expect(page.get_by_role("heading", name=f"Deployments of {FN}")).to_be_visible()

        # Deploy the folder: dropped on the page, the script uploads it with progress, then
        # the build log follows live.
        with open(PACKAGE, "rb") as f:
            archive = base64.b64encode(f.read()).decode()
        page.evaluate(
            """([b64, name]) => {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, {type: "application/gzip"}));
                document.querySelector("[data-drop]").dispatchEvent(
                    new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
            }""",
            [archive, os.path.basename(PACKAGE)],
        )
        page.wait_for_url("**/deployments/*")
        log = page.locator("pre.log-text")
        expect(log).to_contain_text("handler loads", timeout=120_000)
        expect(page.locator("[data-build-status]")).to_have_text("ready")
        check(page, "deployment")
        page.goto(f"{URL}/console/ns/{NS}/fn/{FN}/deployments")
        check(page, "deployments")

        # The test panel, then the execution it made and its waterfall.
        page.goto(f"{URL}/console/ns/{NS}/fn/{FN}/test")
        page.get_by_label("Path and query").fill("/json")
        page.get_by_role("button", name="Send request").click()
        expect(page.get_by_text("Status 200")).to_be_visible()
        expect(page.locator("#response-body")).to_contain_text('"items"')
        check(page, "test-panel")
        page.get_by_role("link", name="Open execution").click()
        expect(page.locator("svg.waterfall")).to_be_visible()
        execution_path = page.url[len(URL):]
        check(page, "execution")

        # Live tail while an async execution runs.
        page.goto(f"{URL}/console/ns/{NS}/fn/{FN}/tail")
        expect(page.locator("[data-tail-state]")).to_contain_text("Connected")
        accepted = api("POST", f"/fn/{NS}/{FN}/", b"", {"x-gust-async": "true"})
        entry = page.locator("[data-tail-list] .entry", has_text=accepted["id"])
        expect(entry).to_contain_text("hello from python on stdout", timeout=30_000)
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
        page.get_by_label("Filter").fill("no such text anywhere")
        expect(entry).to_be_hidden()
        page.get_by_label("Filter").fill("")
        check(page, "tail")

        # A cron trigger, its next fire times shown before it is saved.
        page.goto(f"{URL}/console/ns/{NS}/fn/{FN}/triggers")
        page.get_by_label("Schedule").fill("*/5 * * * *")
        expect(page.locator("#cron-preview li")).to_have_count(5)
        check(page, "triggers")
        page.get_by_label("Name", exact=True).first.fill("every-five")
        page.get_by_role("button", name="Create cron trigger").click()
        expect(page.get_by_role("cell", name="every-five")).to_be_visible()

        # A dead letter, replayed.
        api("POST", f"/api/v1/namespaces/{NS}/functions", {"name": "broken", "runtime": "python3.11", "max_attempts": 1})
        with open(BROKEN, "rb") as f:
            deployment = api("POST", f"/api/v1/namespaces/{NS}/functions/broken/deployments", f.read(), {"content-type": "application/gzip"})
        for _ in range(600):
            d = api("GET", f"/api/v1/namespaces/{NS}/functions/broken/deployments/{deployment['id']}")
            if d["status"] in ("ready", "failed"):
                break
            time.sleep(0.2)
        assert d["status"] == "ready", d
        dead = api("POST", f"/api/v1/namespaces/{NS}/functions/broken/executions", {"async": True, "body": "{}"})
        for _ in range(300):
            e = api("GET", f"/api/v1/namespaces/{NS}/functions/broken/executions/{dead['id']}")
            if e.get("dead_letter"):
                break
            time.sleep(0.1)
        assert e.get("dead_letter"), e
        page.goto(f"{URL}/console/ns/{NS}/fn/broken/dead-letters")
        expect(page.get_by_role("link", name=dead["id"])).to_be_visible()
        check(page, "dead-letters")
        page.get_by_role("button", name=f"Replay {dead['id']}").click()
        expect(page.get_by_role("status")).to_contain_text("Replay queued")

        # The other pages, each checked.
        for name, path in (
            ("functions", f"/console/ns/{NS}/functions"),
            ("function", f"/console/ns/{NS}/fn/{FN}"),
            ("executions", f"/console/ns/{NS}/fn/{FN}/executions"),
            ("metrics", f"/console/ns/{NS}/fn/{FN}/metrics"),
            ("settings", f"/console/ns/{NS}/fn/{FN}/settings"),
            ("namespace", f"/console/ns/{NS}/settings"),
            ("tokens", "/console/tokens"),
        ):
            page.goto(URL + path)
            expect(page.locator("main h1")).to_be_visible()
            check(page, name)

        # Dark mode follows the system, and stays readable.
        page.emulate_media(color_scheme="dark")
        for name, path in (
            ("functions-dark", f"/console/ns/{NS}/functions"),
            ("execution-dark", execution_path),
            ("metrics-dark", f"/console/ns/{NS}/fn/{FN}/metrics"),
        ):
            page.goto(URL + path)
            check(page, name)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        if background == "rgb(255, 255, 255)":
            failures.append("dark mode left the page white")
        page.emulate_media(color_scheme="light")

        # Phone width: the functions page still fits.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{URL}/console/ns/{NS}/functions")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            failures.append(f"functions page is {overflow}px wider than a phone")
        page.screenshot(path=os.path.join(SHOTS, "functions-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        # Keyboard: the first Tab reaches the skip link, and focus is visible.
        page.goto(f"{URL}/console/ns/{NS}/functions")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        if "Skip to content" not in focused:
            failures.append(f"the first Tab stop is {focused!r}, not the skip link")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        if outline == "none":
            failures.append("the focused element shows no outline")

        # Sign out, then be refused.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.goto(f"{URL}/console/ns/{NS}/functions")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

        failures.extend(errors)
        browser.close()

    for name, (html, css, js) in weights.items():
        print(f"weight {name}: html {html} B, css {css} B, js {js} B, total {html + css + js} B")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("passed")


main()
