"""Re-export BPMN files through the bpmn-js modeler the product ships, as a coordinator's save would.

    python scripts/export_with_bpmn_js.py bpmn/kronoberg_introduction.bpmn [more.bpmn ...]
    python scripts/export_with_bpmn_js.py --check bpmn/kronoberg_*.bpmn     # exit 1 if not an export
    python scripts/export_with_bpmn_js.py --screenshot /tmp/k.png bpmn/kronoberg_introduction.bpmn

Each file is imported into the bpmn-js Modeler (``web/static/vendor/bpmn-js``, built by
``bash scripts/build_assets.sh``) in headless Chromium (Playwright, ``/usr/bin/chromium``), saved
with ``saveXML({format: true})`` and written back in place. The modeler is configured like the
model editor's: with its ``spiffworkflow`` moddle descriptor (``web/static/js/spiffworkflow-moddle.json``)
when there is one. Like a modeler application, the script stamps the definitions with
``exporter="bpmn-js"`` and the bundle's version.

bpmn-js keeps what it does not know (the ``spiffworkflow:`` extensions, conditions, timers), with
one exception: it reads ``<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>`` as a reference to an
element id, finds no element "units" and drops it (an import warning). The reference is put back
exactly where ``engine.workflow.xml_repair.restore_loop_references`` puts it when the editor saves a
draft; the line is inserted into bpmn-js's text, so the rest of the file stays byte for byte as
bpmn-js wrote it. Any other import warning means bpmn-js lost something: the file is left alone
and the script fails.

Run it on a hand-written or hand-edited model before committing it; running it on its own output
changes nothing (``--check`` tells).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make the engine importable
    sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from engine.workflow.xml_repair import restore_loop_references  # noqa: E402
from engine.workflow.xml_safety import BPMN_NS, parse_bpmn_xml  # noqa: E402

MODELER = ROOT / "web/static/vendor/bpmn-js/bpmn-modeler.production.min.js"
DESCRIPTOR = ROOT / "web/static/js/spiffworkflow-moddle.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
_NS = {"bpmn": BPMN_NS}
_LOOP_WARNING = re.compile(r"loopData(Input|Output)Ref$")

# Import, stamp the exporter, export. Returns the XML and the import warnings (message, property);
# the modeler stays on the page (for the screenshot) until the next file replaces it.
_EXPORT_JS = """
async ([xml, version, descriptor]) => {
  if (window.modeler) window.modeler.destroy();
  const options = { container: '#canvas' };
  if (descriptor) options.moddleExtensions = { spiffworkflow: descriptor };
  const modeler = window.modeler = new BpmnJS(options);
  const { warnings } = await modeler.importXML(xml);
  const definitions = modeler.getDefinitions();
  definitions.exporter = 'bpmn-js';
  definitions.exporterVersion = version;
  modeler.get('canvas').zoom('fit-viewport', 'auto');
  const result = await modeler.saveXML({ format: true });
  return { xml: result.xml, warnings: warnings.map((w) => ({ message: w.message, property: String(w.property || '') })) };
}
"""


class ExportError(Exception):
    """bpmn-js could not carry the file over unchanged in meaning."""


def bpmn_js_version() -> str:
    """The version in the vendored bundle's banner (``bpmn-js - bpmn-modeler v18.31.1``)."""
    match = re.search(r"bpmn-modeler v(\d+\.\d+\.\d+)", MODELER.read_text(encoding="utf-8")[:400])
    if match is None:
        raise ExportError(f"No bpmn-js version in the banner of {MODELER}.")
    return match.group(1)


def _canonical(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    return etree.tostring(etree.fromstring(xml, parser), method="c14n")


def restore_loops_in_text(exported: str, original: bytes) -> str:
    """``exported`` with the loop references bpmn-js dropped put back, each on a line of its own.

    ``restore_loop_references`` decides what goes where; this inserts the same element into the
    text and checks that the result means exactly what that function's result means.
    """
    data = exported.encode("utf-8")
    restored = restore_loop_references(data, original)
    if restored is data:
        return exported
    lines = exported.split("\n")
    inserts: list[tuple[int, str]] = []
    new_root, old_root = parse_bpmn_xml(restored), parse_bpmn_xml(data)
    for loop in new_root.iterfind(".//bpmn:multiInstanceLoopCharacteristics", _NS):
        owner = loop.getparent()
        assert owner is not None
        old_loop = old_root.find(f".//*[@id='{owner.get('id')}']/bpmn:multiInstanceLoopCharacteristics", _NS)
        assert old_loop is not None
        children = list(loop)
        for index, child in enumerate(children):
            tag = etree.QName(child).localname
            if tag not in ("loopDataInputRef", "loopDataOutputRef") or old_loop.find(f"bpmn:{tag}", _NS) is not None:
                continue
            following = next((c for c in children[index + 1 :] if old_loop.find(f"bpmn:{etree.QName(c).localname}", _NS) is not None), None)  # fmt: skip
            anchor = old_loop.find(f"bpmn:{etree.QName(following).localname}", _NS) if following is not None else None
            if anchor is None or anchor.sourceline is None or old_loop.sourceline == anchor.sourceline:
                raise ExportError(f"Cannot place the {tag} of '{owner.get('id')}' in bpmn-js's text.")
            line = anchor.sourceline - 1
            indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
            inserts.append((line, f"{indent}<bpmn:{tag}>{child.text}</bpmn:{tag}>"))
    for line, text in sorted(inserts, reverse=True):
        lines.insert(line, text)
    result = "\n".join(lines)
    if _canonical(result.encode("utf-8")) != _canonical(restored):
        raise ExportError("The restored loop references differ from restore_loop_references's result.")
    return result


def export_files(paths: list[Path], check: bool, screenshot: Path | None, chromium: Path) -> int:
    """Export every file; return the number of files that changed (or would change, with ``check``)."""
    if not MODELER.exists():
        raise ExportError(f"{MODELER.relative_to(ROOT)} is missing: run `bash scripts/build_assets.sh` first.")
    version = bpmn_js_version()
    descriptor = json.loads(DESCRIPTOR.read_text(encoding="utf-8")) if DESCRIPTOR.exists() else None
    changed = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            page.set_content(
                '<!doctype html><meta charset="utf-8"><div id="canvas" style="width:100%;height:100vh"></div>'
            )
            page.add_script_tag(path=str(MODELER))
            for path in paths:
                original = path.read_bytes()
                out = page.evaluate(_EXPORT_JS, [original.decode("utf-8"), version, descriptor])
                # the loop collection, a variable to SpiffWorkflow, is an unresolvable id to bpmn-js
                unexpected = [w["message"] for w in out["warnings"] if not _LOOP_WARNING.search(w["property"])]
                if unexpected:
                    raise ExportError(f"{path}: bpmn-js import warnings: {unexpected}")
                exported = restore_loops_in_text(out["xml"], original)
                if not exported.endswith("\n"):
                    exported += "\n"
                if exported.encode("utf-8") != original:
                    changed += 1
                    print(f"{path}: {'would change' if check else 'exported'}")
                    if not check:
                        path.write_text(exported, encoding="utf-8")
                else:
                    print(f"{path}: unchanged (already the bpmn-js export)")
                if screenshot is not None:
                    target = screenshot if len(paths) == 1 else screenshot.with_name(f"{path.stem}_{screenshot.name}")
                    page.locator("#canvas").screenshot(path=str(target))
        finally:
            browser.close()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="BPMN files, rewritten in place")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the diagram as bpmn-js draws it")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=f"the browser (default {CHROMIUM})")
    args = parser.parse_args(argv)
    try:
        changed = export_files(args.files, args.check, args.screenshot, args.chromium)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
