"""The dashboard's charts (mailproc.web.charts): numbers in, SVG out, no database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from markupsafe import Markup

from mailproc.web.charts import WIDTH, Series, Share, columns, number, percent, shares

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: Markup) -> ET.Element:
    """The chart as XML: it must be well-formed for the browser to draw it."""
    return ET.fromstring(str(markup))


def bars(svg: ET.Element) -> list[ET.Element]:
    return [e for e in svg.iter(f"{SVG}rect") if e.get("class") == "bar"]


def texts(svg: ET.Element) -> list[str]:
    return [e.text or "" for e in svg.iter(f"{SVG}text")]


def printed(svg: ET.Element) -> list[str]:
    """The values printed above the columns."""
    return [e.text or "" for e in svg.iter(f"{SVG}text") if e.get("class") == "value"]


def day_columns(*series: Series, labels: tuple[str, ...] = ("01/12", "02/12")) -> ET.Element:
    return parse(
        columns("dias", "Chamados por dia", "Resumo.", labels, series, y_axis="Chamados",
                x_axis="Dia")
    )  # fmt: skip


def test_column_heights_are_in_proportion_to_their_values() -> None:
    svg = day_columns(Series("Erro no SIASG", (2, 4)))
    low, high = (float(b.get("height", "")) for b in bars(svg))
    assert high == 2 * low
    assert high == 200  # the tallest reaches the top of the scale (0 to 4)
    assert printed(svg) == ["2", "4"]


def test_stacked_series_sit_on_each_other_and_a_legend_names_them() -> None:
    svg = day_columns(Series("Erro no SIASG", (1, 0)), Series("Reativação de UASG", (3, 2)))
    first, upper, second = bars(svg)
    assert second.get("fill") == upper.get("fill")  # the same series
    assert float(upper.get("y", "")) + float(upper.get("height", "")) == float(first.get("y", ""))
    assert float(upper.get("height", "")) == 3 * float(first.get("height", ""))
    assert first.get("fill") != upper.get("fill")  # by pattern too: url(#dias-s0), url(#dias-s1)
    assert len(list(svg.iter(f"{SVG}pattern"))) == 2
    assert {"Erro no SIASG", "Reativação de UASG"} <= set(texts(svg))
    assert printed(svg) == ["4", "2"]  # each column's total


def test_a_fixed_top_scales_the_columns_to_it() -> None:
    svg = parse(
        columns("notas", "Notas", "Resumo.", ["30/11"], [Series("Nota média", (2.5,))],
                y_axis="Nota média", x_axis="Semana", top=5, value_labels=["2,5"],
                notes=["4 notas"])
    )  # fmt: skip
    [bar] = bars(svg)
    assert float(bar.get("height", "")) == 100  # half of 5
    assert printed(svg) == ["2,5"]
    assert {"4 notas", "5"} <= set(texts(svg))


def test_no_data_is_an_empty_chart_with_a_message_not_a_division_by_zero() -> None:
    for svg in (
        day_columns(Series("Erro no SIASG", (0, 0))),
        day_columns(),
        parse(columns("x", "T", "S", [], [], y_axis="y", x_axis="x")),
        parse(shares("p", "Prazo", "S", [Share("Área", 0, 0)], x_axis="%")),
        parse(shares("p", "Prazo", "S", [], x_axis="%")),
    ):
        assert bars(svg) == []
        assert "Nenhum dado no período." in texts(svg)
        assert svg.get("role") == "img"


def test_share_bars_are_as_long_as_the_share_and_print_it() -> None:
    rows = [Share("Suporte Técnico SIASG", 17, 20), Share("Gestão de UASG", 0, 0)]
    svg = parse(shares("prazo", "No prazo", "Resumo.", rows, x_axis="Respondidos no prazo"))
    [bar] = bars(svg)
    assert float(bar.get("width", "")) == 306  # 85% of 360
    assert {"85% (17 de 20)", "nada a contar", "Gestão de UASG", "0%", "100%"} <= set(texts(svg))


def test_every_chart_is_a_named_described_scalable_image_without_style() -> None:
    charts = [
        day_columns(Series("a", (1, 2)), Series("b", (1, 0))),
        parse(shares("prazo", "No prazo", "Três de quatro.", [Share("A", 3, 4)], x_axis="%")),
        day_columns(),
    ]
    for svg in charts:
        first, second = svg.get("aria-labelledby", "").split()
        assert svg.find(f"{SVG}title[@id='{first}']") is not None
        description = svg.find(f"{SVG}desc[@id='{second}']")
        assert description is not None and description.text
        assert svg.get("width") == "100%" and svg.get("viewBox", "").startswith("0 0 560 ")
        assert not [e for e in svg.iter() if "style" in e.attrib]


def test_names_from_the_rules_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    markup = columns(evil, evil, evil, [evil], [Series(evil, (1,)), Series("b", (1,))],
                     y_axis=evil, x_axis=evil)  # fmt: skip
    markup += shares("s", evil, evil, [Share(evil, 1, 2)], x_axis=evil)
    assert "<script" not in markup
    assert "&lt;script&gt;" in markup
    # Escaped once, not twice: the browser shows the name as written.
    svg = parse(columns("x", "T", "S", ["a"], [Series(evil, (1,))], y_axis="y", x_axis="x"))
    assert f"{evil}, a: 1" in [t.text for t in svg.iter(f"{SVG}title")]


def test_ninety_days_show_at_most_twelve_day_labels() -> None:
    labels = tuple(f"{d:02d}" for d in range(90))
    svg = day_columns(Series("a", tuple(1 for _ in labels)), labels=labels)
    assert len(bars(svg)) == 90
    assert len([t for t in texts(svg) if t in labels]) <= 12


def test_numbers_read_as_in_portuguese() -> None:
    assert number(1234) == "1.234"
    assert number(3.5, 1) == "3,5"
    assert percent(2, 3) == 67
    assert percent(1, 8) == 13  # a half rounds up
    assert percent(0, 0) == 0


# -- nothing drawn outside the picture ----------------------------------------------------------

# Advance widths in em of DejaVu Sans (the pages' first font, Debian's sans-serif), rounded
# up by character class: text's extent is estimated, as no browser is at hand.
NARROW, WIDE = set(" .,:;/()|!ijlfrt'"), set("%mwMW—")


def text_width(text: str, size: float) -> float:
    def em(char: str) -> float:
        if char in NARROW:
            return 0.42
        if char in WIDE:
            return 1.0
        return 0.76 if char.isupper() else 0.64

    return size * sum(em(char) for char in text)


def extents(svg: ET.Element) -> Iterator[tuple[str, float, float]]:
    """Each text's (text, left, right) in viewBox units, as its anchor places it."""
    base = float(svg.get("font-size", "16"))
    for element in svg.iter(f"{SVG}text"):
        text, x = element.text or "", float(element.get("x", "0"))
        width = text_width(text, float(element.get("font-size", base)))
        anchor = element.get("text-anchor", "start")
        left = x - {"start": 0, "middle": width / 2, "end": width}[anchor]
        yield text, left, left + width


def test_the_first_tick_of_a_shares_scale_has_room_left_of_it() -> None:
    svg = parse(shares("prazo", "No prazo", "Resumo.", [Share("A", 1, 2)], x_axis="%"))
    [(_, left, _)] = [e for e in extents(svg) if e[0] == "0%"]
    assert svg.get("viewBox", "").startswith("0 0 ")
    assert left >= 0  # "0%" under the scale's start, whole, on desktop and phone alike


def test_no_text_of_a_chart_leaves_its_picture() -> None:
    many_days = tuple(f"{d:02d}/12" for d in range(1, 32))
    charts = [
        shares("prazo", "No prazo", "Resumo.",
               [Share("Suporte Técnico SIASG", 1234, 1234), Share("Gestão de UASG", 0, 0),
                Share("Cadastro de Fornecedores e Sanções", 999, 1000)],
               x_axis="Parte respondida no prazo"),
        columns("dias", "Chamados por dia", "Resumo.", many_days,
                [Series("Erro/Indisponibilidade – SIASG", tuple(30.0 for _ in many_days)),
                 Series("Reativação de UASG", tuple(3.0 for _ in many_days))],
                y_axis="Chamados", x_axis="Dia de abertura"),
        columns("idade", "Por idade", "Resumo.", ["< 1 dia", "1–3 dias", "> 30 dias"],
                [Series("Em atendimento", (9500, 0, 12))], y_axis="Chamados",
                x_axis="Tempo desde a abertura"),
        columns("notas", "Notas", "Resumo.", ["30/11", "07/12"], [Series("Nota média", (4.5, 3))],
                y_axis="Nota média", x_axis="Semana", top=5, value_labels=["4,5", "3,0"],
                notes=["12 notas", "1 nota"]),
    ]  # fmt: skip
    for markup in charts:
        svg = parse(markup)
        outside = [(text, round(left), round(right)) for text, left, right in extents(svg)
                   if left < 0 or right > WIDTH]  # fmt: skip
        assert not outside, outside


def test_an_empty_charts_message_starts_at_its_left_so_a_phone_shows_it_unscrolled() -> None:
    """A chart keeps its width on a phone (the page scrolls it sideways in its region): the
    message of one with nothing to draw must be read where the region begins."""
    svg = parse(shares("p", "Prazo", "S", [], x_axis="%"))
    [(text, left, right)] = list(extents(svg))
    assert text == "Nenhum dado no período."
    assert 0 <= left <= 16 and right <= 280  # within a 320 px phone, less its margins
