"""The timeline pages under hostile strings (issue 35): a trace named like a
placeholder, item ids and pages that try to close elements or switch the HTML
tokenizer's state. Parsed as a browser would (html5lib): no element the trace
put there, the data block one script whose text is the timeline's JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import html5lib

NS = "{http://www.w3.org/1999/xhtml}"
HOSTILE = [
    '"><img src=x onerror=alert(5)>',
    "<!--<script>",
    "</script><script>alert(1)</script>",
    "{{DATA}}",
    "/*{{PAGE_JS}}*/",
    "a\u2028b\u2029c & <b>",
]


def hostile_trace(path: Path) -> None:
    t = 1_767_600_000_000
    lines = [{"ts_ms": t, "type": "app_foreground"}, {"ts_ms": t + 500, "type": "page_view", "page": "home"}]
    for i, s in enumerate(HOSTILE):
        at = t + 1_000 * (i + 1)
        lines += [
            {"ts_ms": at, "type": "page_view", "page": s},
            {"ts_ms": at + 100, "type": "exposure", "slot": s, "items": [s, f"x{i}"]},
            {"ts_ms": at + 200, "type": "click", "slot": s, "item": s},
            {"ts_ms": at + 300, "type": "custom", "name": s},
            {"ts_ms": at + 400, "type": "recommendations", "slot": s, "items": [{"id": s, "entity": s}]},
        ]
    lines.append({"ts_ms": t + 60_000, "type": "pull_to_refresh", "page": "home"})
    path.write_text("".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines), encoding="utf-8")


def check_page(page: Path, trace_name: str) -> dict:
    doc = html5lib.parse(page.read_bytes(), namespaceHTMLElements=True)
    for el in doc.iter():
        assert isinstance(el.tag, str)
        assert not any(a.lower().startswith("on") for a in el.attrib), (el.tag, el.attrib)
        assert el.tag != f"{NS}img", "an element from the trace"
    scripts = [el for el in doc.iter(f"{NS}script")]
    data = [el for el in scripts if el.get("id") == "data"]
    assert len(data) == 1, [s.attrib for s in scripts]
    # The bundled uPlot and page scripts, and the data: nothing else.
    assert len(scripts) == 3, [s.attrib for s in scripts]
    title = doc.find(f".//{NS}title").text
    assert title == f"edgeintent timeline: {trace_name}"
    h1 = doc.find(f".//{NS}h1")
    assert "".join(h1.itertext()) == title and len(list(h1)) == 0
    return json.loads(data[0].text)


def test_hostile_strings_stay_data_in_the_replay_timeline(edgeintent_bin, tmp_path):
    trace = tmp_path / "p{{DATA}}<b>.jsonl"
    hostile_trace(trace)
    page = tmp_path / "t.html"
    out = subprocess.run(
        [str(edgeintent_bin), "replay", "--timeline", str(page), str(trace)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    # replay names the page after the file; evaluate after the path it was given.
    data = check_page(page, trace.name)
    assert data["trace"] == trace.name
    text = json.dumps(data, ensure_ascii=False)
    for s in HOSTILE:
        assert json.dumps(s, ensure_ascii=False)[1:-1] in text, s


def test_evaluate_names_pages_safely_and_escapes_the_index(edgeintent_bin, tmp_path):
    trace = tmp_path / 'q"><img src=x onerror=alert(1)>.jsonl'
    hostile_trace(trace)
    # A truth file with no shifts: the evaluation itself is not the point here.
    truth = tmp_path / "truth.jsonl"
    truth.write_text("")
    out_dir = tmp_path / "pages"
    out = subprocess.run(
        [str(edgeintent_bin), "evaluate", "--timeline", str(out_dir), "--truth", str(truth), str(trace)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    pages = sorted(p.name for p in out_dir.iterdir())
    assert pages == ["000-q___img_src_x_onerror_alert_1__.html", "index.html"], pages
    check_page(out_dir / pages[0], str(trace))
    index = html5lib.parse((out_dir / "index.html").read_bytes(), namespaceHTMLElements=True)
    links = list(index.iter(f"{NS}a"))
    assert [a.get("href") for a in links] == [pages[0]]
    assert "".join(links[0].itertext()) == str(trace)
    assert not any(el.tag == f"{NS}img" for el in index.iter())
