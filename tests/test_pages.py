"""Run pages and the pytest-html summary (dhstats.report.pages): names, escaping, structure. HTML is
checked through html.parser (tags, attributes, text), not by snapshot."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from health_records import EVIL_MSG, EVIL_RUN, PNG, PNG_B64, health

from dhstats.report import pages
from dhstats.load.names import NAME_MAX, safe_name
from dhstats.figures.rendered import Figure


class Page(HTMLParser):
    """Tags with attributes, text in document order, and the section headings."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self._in_h = False
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_h = tag in ("h2", "h3")
        self._in_style = tag == "style"
        if self._in_h:
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self._in_h = False
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            return
        self.text.append(data)
        if self._in_h:
            self.headings[-1] += data

    def all_text(self) -> str:
        return "".join(self.text)

    def names(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


def _safe(page: Page) -> None:
    """No script, no event-handler attribute, no javascript: URL, anywhere."""
    assert not page.names("script")
    for tag, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for k in ("href", "src"):
            assert not str(attrs.get(k, "")).lower().startswith("javascript:"), (tag, attrs)


# --------------------------------------------------------------------------- names


def test_page_names_unique_bounded_and_safe():
    long = "r" * 230
    paths = {name: pages.page_path(("E_256", name)) for name in
             ("run_01", EVIL_RUN, "run_x\\y", "run_x_y", long, "..", ".hidden", "")}
    assert paths["run_01"] == "runs/E_256/run_01.html"  # plain names unchanged
    assert paths["run_x_y"] == "runs/E_256/run_x_y.html"
    assert re.fullmatch(r"runs/E_256/run_x_y-[0-9a-f]{8}\.html", paths["run_x\\y"])
    assert len(set(paths.values())) == len(paths)
    for p in paths.values():
        assert re.fullmatch(r"runs/E_256/[A-Za-z0-9_-][A-Za-z0-9._-]*\.html", p), p
        assert len(p.split("/")[-1]) <= NAME_MAX + 9 + 5
    # changed names: cut to NAME_MAX characters, + "-" and 8 hex digits of sha1(the whole name)
    assert paths[long] == "runs/E_256/" + "r" * NAME_MAX + "-f70b4f01.html"  # sha1("r" * 230)
    assert paths[".."] == "runs/E_256/_.-9d891e73.html"  # a leading "." becomes "_"
    assert paths[".hidden"] == "runs/E_256/_hidden-92f73832.html"
    assert paths[""] == "runs/E_256/_-da39a3ee.html"  # sha1 of the empty string


@given(st.text(min_size=0, max_size=300), st.text(min_size=0, max_size=300))
def test_safe_name_properties(a, b):
    """Bounded, only [A-Za-z0-9._-], no leading dot; distinct names give distinct components
    (SHA-1 suffix whenever the name was changed)."""
    ca, cb = safe_name(a), safe_name(b)
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", ca) and len(ca) <= NAME_MAX + 9
    if a != b:
        assert ca != cb


# --------------------------------------------------------------------------- run pages


def _run_page(name="run_01", figures=()):
    return pages.render_run_page(health(), ("E_256", name), figures)


def test_run_page_escapes_names_and_messages():
    html = _run_page(EVIL_RUN, [Figure("ratio <b>vs</b> η", PNG)])
    page = Page(html)
    _safe(page)
    assert not page.names("img")[1:] and page.names("img")[0]["alt"] == "ratio <b>vs</b> η"
    text = page.all_text()
    assert EVIL_RUN in text and EVIL_MSG in text  # shown as text, not markup
    assert "<img src=x" not in html and "<script>" not in html


def test_run_page_order_failures_then_figures_then_table():
    page = Page(_run_page("run_01", [Figure("ΔH vs η", PNG), Figure("contributions", None, "no per-sequence data"),
                                     Figure("errors", None, "no per-sequence data")]))
    assert page.headings == ["Failures (1)", "Figures", "Checks × η", "Other cases", "Settings"]
    text = page.all_text()
    assert text.count("|z| = 4.2 > 3: ηG misses ΔH_true.") == 1  # each message once
    assert text.count("no per-sequence data") == 2  # one line for both figures + se_consistency's message
    imgs = page.names("img")
    assert len(imgs) == 1 and imgs[0]["src"] == "data:image/png;base64," + PNG_B64
    figure = next(a for a in page.names("figure"))
    assert any(a.get("href") == "#" + figure["id"] for a in page.names("a"))  # click to enlarge
    assert "reported, unverified" in text and "σ_true approximate" in text
    cells = [a.get("class") for a in page.names("td")]
    assert cells.count("failed") == 1 and cells.count("passed") == 3 and cells.count("skipped") == 1
    # table: columns η = 1e-06, 2e-06 and per run; failed cell links to the failure
    anchors = [a["id"] for a in page.names("div") if "id" in a]
    assert anchors[0] == "case-5"  # linear_agreement at 2e-06 (5th in registry/η order) is listed first


def test_run_page_figure_width_css():
    html = _run_page()
    assert int(re.search(r"figure\.dhs-fig img\{width:(\d+)px", html).group(1)) >= 600


def test_invalid_run_page_lists_problems_once():
    page = Page(_run_page("run_03"))
    _safe(page)
    text = page.all_text()
    assert "invalid run" in text and "E_256/run_03/results.json: invalid input (2 problems)" in text
    assert text.count("<b>missing</b> h_new") == 1
    assert page.headings == ["Input problems (2)", "Settings"]


def test_figure_that_is_not_png_bytes_becomes_note():
    """Figure.png is the PNG's bytes: text (even base64 text) or bytes without the PNG
    signature are not embedded."""
    for data in ('" onerror="alert(1)', PNG_B64, b"GIF89a"):
        page = Page(_run_page("run_01", [Figure("bad", data)]))
        _safe(page)
        assert not page.names("img")
        assert "figure 'bad' is not PNG data; omitted" in page.all_text()


# --------------------------------------------------------------------------- summary


def test_summary_structure_and_links():
    h = health()
    links = pages.page_links(h)
    assert links == {"E_256/run_01": "runs/E_256/run_01.html", f"E_256/{EVIL_RUN}": pages.page_path(("E_256", EVIL_RUN)),
                     "E_256/run_03": "runs/E_256/run_03.html"}
    page = Page(pages.render_summary(h, links, cross_set=[Figure("σ vs E", PNG)],
                                   trend=[Figure("trend", None, "no gate session in the history")]))
    _safe(page)
    assert page.headings == ["Failures (3)", "Invalid runs (1): input unusable, no checks run",
                             "Checks", "Run sets (pooled over runs)", "Across run sets", "Trend over gate sessions"]
    text = page.all_text()
    # the summary opens with the finding of the failing run set (an agreement case failed), then
    # one sentence per run set on what the gate could see, then the verdict
    first = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert first[0].startswith("E_256: at η = 2e-06: the run overshoots (ratio 1.50)")
    assert first[1] == "E_256: 3 cases failed; no agreement case could be judged, so its resolution is unknown"
    assert first[2].startswith("E_512: no disagreement found;") and first[3].startswith("3 failed, 1 invalid run")
    assert EVIL_RUN in text and EVIL_MSG in text
    hrefs = [a["href"] for a in page.names("a") if not a["href"].startswith("#")]
    assert hrefs.count("runs/E_256/run_03.html") == 1 and pages.page_path(("E_256", EVIL_RUN)) in hrefs
    tables = [a["class"] for a in page.names("table")]
    # three failures, no cause in common: three findings of one case each, then the checks
    assert tables[:4] == ["dhs-grid dhs-failures"] * 3 + ["dhs-grid dhs-checks"]
    # failures first: the run-set failure (se_scaling of E_256), then runs in check order
    first_rows = text.split("why", 1)[1]
    assert first_rows.index("E_256 (pooled)") < first_rows.index("E_256/run_01") < first_rows.index(EVIL_RUN)
    assert "Z = 1.2" in text and "ratio = 1.01 ± 0.02" in text
    assert "no gate session in the history" in text


def test_summary_caps_failures(monkeypatch):
    monkeypatch.setattr(pages, "MAX_SUMMARY_FAILURES", 1)
    text = Page(pages.render_summary(health())).all_text()
    assert "… and 2 more" in text


@pytest.mark.parametrize("x, text", [(None, "n/a"), (3, "3"), (0.000123456, "0.000123"), (True, "True"),
                                     ([0.5, 2.0], "[0.5, 2]"), ({"run_01": 1.25}, "run_01: 1.25")])
def test_num(x, text):
    assert pages.num(x) == text


def test_autoescape_everywhere_and_no_hand_escaping():
    """Every template is rendered with autoescape; no module escapes HTML by hand."""
    from pathlib import Path

    import dhstats

    env = pages.environment()
    for name in env.list_templates():
        assert env.get_template(name).name == name  # compiles
        assert env.autoescape is True or env.autoescape(name)
    sources = Path(dhstats.__file__).parent.rglob("*.py")
    assert not [p.name for p in sources if "html.escape" in p.read_text(encoding="utf-8")]


def test_failures_sharing_a_cause_are_one_finding():
    """The shard-mean convention of 3 runs is said once, with the runs under it; two linear cases
    with the same meaning after their rule are one finding; a case of its own keeps its first line."""
    def failed(run, check, message, eta=None, **kw):
        return {"run_set": "E_8", "run": run, "eta": eta, "check": check, "outcome": "failed", "message": message, **kw}

    shard = [failed(f"run_0{i}", "se_consistency", "the producer reports SEs in the shard-mean convention: use "
                    "--reported-se shard-mean.\nse_shard = 1 vs se_sum(g̃) = 8", finding="shard_mean_se",
                    rho_se_shard=0.125) for i in (1, 2, 3)]
    lin = [failed("run_01", "linear_agreement", f"|z| = {z} > k = 3: a biased gdotv.\nηG = 1", 1e-6 * z, z=z)
           for z in (4, 5)]
    alone = failed("run_02", "truncation_ratio", "ratio outside [0.5, 2] beyond 3σ at q = 0.9: bulk.\nq=0.9: r=3", 1e-6)
    groups = pages.findings(shard + lin + [alone], {})
    assert [g["headline"] for g in groups] == [
        "3 runs: the producer reports shard-mean SEs (ρ·num_shards ≈ 1); use --reported-se shard-mean "
        "(or dhstats_reported_se = shard-mean in the ini)",
        "2 cases in 1 run (linear prediction ηG vs ΔH_true): a biased gdotv.", None]
    assert [len(g["cases"]) for g in groups] == [3, 2, 1]
    assert groups[0]["cases"][0]["numbers"] == ["ρ(se_shard) = 0.125"] and groups[0]["cases"][0]["first_line"] == ""
    assert groups[1]["cases"][1]["numbers"] == ["z = 5"] and groups[1]["cases"][1]["detail"] == "ηG = 1"
    assert groups[2]["cases"][0]["first_line"] == "ratio outside [0.5, 2] beyond 3σ at q = 0.9: bulk."


def test_summary_shows_the_settings_in_force_and_the_scaling_reference():
    """A green report says what it assumed, in the summary's first lines (not in a collapsed
    section): k and Holm, the reported-SE convention, the tolerance when the option exists."""
    from dhstats.report.health import build_health
    from dhstats.load.settings import Settings
    from health_records import case, run

    runs = [run("E_256", "run_01"), run("E_512", "run_01")]
    cases = [case("E_256", None, 1e-6, "pooled_linear_agreement", "passed", "ok.", Z=0.1, R=2, ratio=1.0, ratio_se=0.1),
             case("E_512", None, 1e-6, "pooled_linear_agreement", "passed", "ok.", Z=0.1, R=2, ratio=1.0, ratio_se=0.1),
             case("E_256", None, None, "se_scaling", "passed", "ratio 1.1.", E=256, reference="E_512")]
    h = build_health(Settings(reported_se="shard-mean"), ["/d/E_256", "/d/E_512"], runs, cases)
    page = Page(pages.render_summary(h))
    text = " ".join(page.all_text().split())
    assumed = text.split("Assumed:", 1)[1].split(".", 1)[0]
    assert "k = 3: a z-check fails when |z| > 3; Holm–Bonferroni off" in assumed
    assert "reported SEs: shard-mean, ×num_shards (declared)" in assumed
    assert text.index("Assumed:") < text.index("Checks")  # before the tables, outside <details>
    assert "E_512 is the reference of se_scaling (the largest E)" in text
    h = build_health(Settings(holm=0.05), ["/d/E_256"], runs[:1], [])
    assert "Holm–Bonferroni at family-wise α = 0.05 (k not used)" in Page(pages.render_summary(h)).all_text()
