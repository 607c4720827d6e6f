"""The state diagram drawn from a definition: Mermaid text and a self-contained SVG document."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from workflows.diagram.mermaid import mermaid
from workflows.diagram.svg import svg
from workflows.registry import load
from workflows.schema import SYSTEM_BODY, Definition

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def definition() -> Definition:
    procedure = load().get("cdht_xa", "tt25-2023")
    assert procedure is not None
    return procedure.definition


def expected_edges(transitions: list[Any]) -> list[str]:
    """One ``source --> dest : trigger`` line per source, derived from the definition."""
    lines = []
    for t in transitions:
        label = f"{t.trigger} (system)" if t.bodies == [SYSTEM_BODY] else t.trigger
        for source in t.source:
            dest = source if t.dest == "=" else t.dest
            lines.append(f"{source} --> {dest} : {label}")
    return lines


def mermaid_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def small_definition(**state_labels: tuple[str, str]) -> Definition:
    """A two-state definition whose labels the test chooses."""
    (first, (vi1, en1)), (second, (vi2, en2)) = state_labels.items()
    citation = {"ref": "test", "basis": "config"}
    return Definition.model_validate(
        {
            "key": "demo",
            "version": "v1",
            "title": {"vi": "Thử nghiệm", "en": "Demo"},
            "instrument": "none",
            "effective_from": "2024-01-01",
            "subject_level": "commune",
            "levels": [1],
            "kinds": ["first"],
            "states": {
                first: {"vi": vi1, "en": en1, "initial": True},
                second: {"vi": vi2, "en": en2, "final": True},
            },
            "open": {"bodies": ["commune.leader"], "citation": citation},
            "transitions": [
                {
                    "trigger": "finish",
                    "source": [first],
                    "dest": second,
                    "bodies": ["commune.leader"],
                    "citation": citation,
                    "vi": "Kết thúc",
                    "en": "Finish",
                },
                {
                    "trigger": "touch",
                    "source": [first],
                    "dest": "=",
                    "bodies": [SYSTEM_BODY],
                    "citation": citation,
                    "vi": "Chạm",
                    "en": "Touch",
                },
            ],
        }
    )


# ------------------------------------------------------------------------------------------------ Mermaid


def test_cdht_definition_mermaid_has_every_transition_line(definition: Definition) -> None:
    lines = mermaid_lines(mermaid(definition))
    assert lines[0] == "stateDiagram-v2"
    expected = expected_edges(definition.transitions)
    assert len(expected) > len(definition.transitions)  # some transitions have several sources
    missing = [line for line in expected if line not in lines]
    assert missing == []
    # and no transition line that the definition does not have
    drawn = [line for line in lines if " --> " in line and "[*]" not in line]
    assert sorted(drawn) == sorted(expected)


def test_cdht_definition_mermaid_describes_every_state(definition: Definition) -> None:
    text = mermaid(definition)
    for name in definition.states:
        described = [line for line in mermaid_lines(text) if line.startswith("state ") and line.endswith(f" as {name}")]
        assert len(described) == 1, name
        assert "<br/>(" in described[0]


def test_cdht_definition_mermaid_marks_initial_and_finals(definition: Definition) -> None:
    lines = mermaid_lines(mermaid(definition))
    assert f"[*] --> {definition.initial_state}" in lines
    finals = [name for name, state in definition.states.items() if state.final]
    assert finals
    for name in finals:
        assert f"{name} --> [*]" in lines
    non_finals = [name for name in definition.states if name not in finals]
    assert not [name for name in non_finals if f"{name} --> [*]" in lines]
    assert any(line.startswith("classDef final ") for line in lines)
    assert f"class {','.join(finals)} final" in lines


def test_system_transition_mermaid_label_says_system(definition: Definition) -> None:
    lines = mermaid_lines(mermaid(definition))
    lapse = definition.transition("lapse")
    assert lapse is not None and lapse.bodies == [SYSTEM_BODY]
    assert f"{lapse.source[0]} --> {lapse.dest} : lapse (system)" in lines
    assert f"{lapse.source[0]} --> {lapse.dest} : lapse" not in lines


def test_same_definition_twice_mermaid_and_svg_identical(definition: Definition) -> None:
    assert mermaid(definition) == mermaid(definition)
    assert svg(definition) == svg(definition)
    assert mermaid(definition, indicator_process=True) == mermaid(definition, indicator_process=True)
    reloaded = load().get("cdht_xa", "tt25-2023")
    assert reloaded is not None
    assert svg(reloaded.definition) == svg(definition)


def test_indicator_process_mermaid_draws_its_four_states_and_triggers(definition: Definition) -> None:
    process = definition.indicator_process
    assert process is not None
    lines = mermaid_lines(mermaid(definition, indicator_process=True))
    assert len(process.states) == 4
    for name in process.states:
        assert any(line.startswith("state ") and line.endswith(f" as {name}") for line in lines), name
    assert f"[*] --> {process.initial}" in lines
    for line in expected_edges(process.transitions):
        assert line in lines
    # the case's own states are not drawn
    assert not any(line.endswith(" as planning") for line in lines)
    assert "planning --> plan_issued : issue_plan" not in lines


def test_indicator_process_svg_draws_its_four_states(definition: Definition) -> None:
    process = definition.indicator_process
    assert process is not None
    root = ET.fromstring(svg(definition, indicator_process=True))
    assert len(root.findall(f".//{SVG}rect")) == len(process.states) == 4
    triggers = {"".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "trigger"}
    assert {t.trigger for t in process.transitions} <= triggers


def test_missing_indicator_process_diagram_raises() -> None:
    plain = small_definition(start=("Bắt đầu", "Start"), done=("Xong", "Done"))
    with pytest.raises(ValueError, match="indicator_process"):
        mermaid(plain, indicator_process=True)
    with pytest.raises(ValueError, match="indicator_process"):
        svg(plain, indicator_process=True)


def test_label_with_quotes_and_colon_mermaid_escapes_them() -> None:
    d = small_definition(start=('Được công nhận "CĐHT": mức 1; 50%', "Step: one"), done=("Xong", "Done"))
    text = mermaid(d)
    line = next(line for line in mermaid_lines(text) if line.endswith(" as start"))
    label = line[len('state "') : -len('" as start')]
    bare = re.sub(r"#\w+;", "", label)  # Mermaid entity codes removed: no raw quote, colon, semicolon or %
    assert not set('":;%') & set(bare)
    assert "#quot;CĐHT#quot;#58; mức 1#59; 50#37;" in label
    assert "(Step#58; one)" in label
    assert "start --> start : touch (system)" in mermaid_lines(text)


# ------------------------------------------------------------------------------------------------ SVG


def test_cdht_definition_svg_parses_with_one_rect_per_state(definition: Definition) -> None:
    root = ET.fromstring(svg(definition))
    assert root.tag == f"{SVG}svg"
    rects = root.findall(f".//{SVG}rect")
    assert len(rects) == len(definition.states)
    groups = [g for g in root.iter(f"{SVG}g") if g.get("data-state")]
    assert sorted(g.get("data-state") for g in groups) == sorted(definition.states)
    for g in groups:
        assert len(g.findall(f"{SVG}rect")) == 1


def test_cdht_definition_svg_shows_every_trigger_as_text(definition: Definition) -> None:
    root = ET.fromstring(svg(definition))
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "trigger"]
    assert len(labels) == len(expected_edges(definition.transitions))
    shown = {t.text for t in labels}
    assert {t.trigger for t in definition.transitions} == shown
    system = ["".join(t.itertext()) for t in labels if t.text == "lapse"]
    assert system and all("(system)" in text for text in system)


def test_cdht_definition_svg_titles_and_sizes_itself(definition: Definition) -> None:
    root = ET.fromstring(svg(definition))
    title = root.find(f"{SVG}title")
    assert title is not None and "cdht_xa" in title.text and "tt25-2023" in title.text
    width, height = float(root.get("width")), float(root.get("height"))
    viewbox = [float(v) for v in root.get("viewBox").split()]
    assert viewbox[2:] == [width, height]
    # every box lies inside the view box
    for rect in root.iter(f"{SVG}rect"):
        x, y = float(rect.get("x")), float(rect.get("y"))
        assert viewbox[0] <= x and x + float(rect.get("width")) <= viewbox[0] + width
        assert viewbox[1] <= y and y + float(rect.get("height")) <= viewbox[1] + height


def test_cdht_definition_svg_layers_states_by_distance_from_initial(definition: Definition) -> None:
    root = ET.fromstring(svg(definition))
    top = {
        g.get("data-state"): float(g.find(f"{SVG}rect").get("y")) for g in root.iter(f"{SVG}g") if g.get("data-state")
    }
    assert top["planning"] < top["plan_issued"] == top["lapsed"] < top["collecting_evidence"]
    assert top["appraised"] < top["recognized"] == top["refused"] < top["expired"]


def test_cdht_definition_svg_is_self_contained(definition: Definition) -> None:
    text = svg(definition)
    root = ET.fromstring(text)
    assert not list(root.iter(f"{SVG}script"))
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "@font-face" not in text and "@import" not in text
    finals = {g.get("data-state") for g in root.iter(f"{SVG}g") if "final" in (g.get("class") or "").split()}
    assert finals == {name for name, state in definition.states.items() if state.final}


def test_labels_with_ampersand_and_angle_bracket_svg_keeps_vietnamese_text() -> None:
    vi = "Ủy ban & Hội đồng <cấp xã> thẩm định"
    en = "Council & <board> review"
    d = small_definition(start=(vi, en), done=('Đã "xong" ơi', "Done"))
    text = svg(d)
    assert "Ủy ban &amp; Hội đồng &lt;cấp xã&gt;" in text
    root = ET.fromstring(text)
    strings = ["".join(node.itertext()) for node in root.iter() if node.tag in (f"{SVG}text", f"{SVG}title")]
    assert any(vi in s for s in strings)
    assert en in strings
    assert any('Đã "xong" ơi' in s for s in strings)
    assert len(root.findall(f".//{SVG}rect")) == 2
    title = root.find(f"{SVG}title")
    assert title is not None and title.text.startswith("demo v1")


def test_long_english_label_svg_truncates_with_ellipsis() -> None:
    long = "An English label far too long to fit on a single line of a state box in the diagram"
    d = small_definition(start=("Bắt đầu", long), done=("Xong", "Done"))
    root = ET.fromstring(svg(d))
    en = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "en"]
    shortened = [s for s in en if s.startswith("An English label")]
    assert len(shortened) == 1 and shortened[0].endswith("…") and len(shortened[0]) < len(long)


def test_self_loop_svg_draws_a_curve_back_to_its_box() -> None:
    d = small_definition(start=("Bắt đầu", "Start"), done=("Xong", "Done"))
    root = ET.fromstring(svg(d))
    loop = next(p for p in root.iter(f"{SVG}path") if p.get("data-trigger") == "touch")
    assert " C" in loop.get("d")
    assert loop.get("marker-end", "").startswith("url(#")
    assert loop.get("stroke-dasharray")  # fired by the system: dashed
