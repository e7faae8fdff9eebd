"""Reading an audience CSV: every error kind is reported with its line and reason."""

from __future__ import annotations

import pytest

from madoguchi.services.campaigns.audience_csv import (
    MAX_COLUMNS,
    AudienceFileError,
    normalize_phone,
    parse_audience_csv,
)


def parse(text: str, **kwargs):
    return parse_audience_csv(text.encode("utf-8"), **kwargs)


def test_bom_japanese_names_and_parameter_columns():
    data = "\ufeffphone,name,order_no\n+81 90-1234-0001,山田 太郎,A-1\n819012340002,佐藤 花子,A-2\n"
    parsed = parse_audience_csv(data.encode("utf-8"))
    assert parsed.problems == [] and parsed.columns == ["order_no"]
    first, second = parsed.rows
    assert (first.wa_id, first.name, first.country, first.variables) == (
        "819012340001",
        "山田 太郎",
        "JP",
        {"order_no": "A-1"},
    )
    assert (second.line, second.wa_id) == (3, "819012340002")


def test_without_bom_and_with_japanese_headers():
    parsed = parse("電話番号,氏名\n+819012340001,山田\n")
    assert [(r.wa_id, r.name) for r in parsed.rows] == [("819012340001", "山田")]


def test_every_row_error_kind_is_reported_by_line():
    parsed = parse(
        "phone,user_id,name,code\n"
        "+819012340001,,A,1\n"  # line 2: fine
        ",,B,2\n"  # 3: no recipient
        "not-a-phone,,C,3\n"  # 4: invalid phone
        "12,,D,4\n"  # 5: impossible phone
        ",jp-bad,E,5\n"  # 6: invalid BSUID
        "+819012340006,,F\n"  # 7: too few fields
        "+819012340007,,G,7,extra\n"  # 8: too many fields
        f"+819012340008,,{'x' * 201},8\n"  # 9: name too long
        f"+819012340009,,I,{'y' * 1025}\n"  # 10: value too long
        ",JP.70211330012345,J,10\n"  # 11: fine, by BSUID
    )
    assert [(p.line, p.code) for p in parsed.problems] == [
        (3, "missing_recipient"),
        (4, "invalid_phone"),
        (5, "invalid_phone"),
        (6, "invalid_user_id"),
        (7, "wrong_field_count"),
        (8, "wrong_field_count"),
        (9, "too_long"),
        (10, "too_long"),
    ]
    assert all(p.message for p in parsed.problems)
    assert [r.line for r in parsed.rows] == [2, 11]
    assert parsed.rows[1].user_id == "JP.70211330012345" and parsed.rows[1].country == "JP"


def test_duplicates_are_merged_and_counted_blank_lines_skipped():
    parsed = parse("phone,name\n+81 90 1234 0001,A\n\n819012340001,A again\n+819012340002,B\n,\n")
    assert [r.wa_id for r in parsed.rows] == ["819012340001", "819012340002"]
    assert parsed.duplicates == 1 and parsed.duplicate_lines == [4]
    assert parsed.blank_lines == 2


def test_national_numbers_need_a_default_country():
    assert parse("phone\n090-1234-0001\n").problems[0].code == "invalid_phone"
    parsed = parse("phone\n090-1234-0001\n", default_region="JP")
    assert parsed.rows[0].wa_id == "819012340001"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("name,order\nA,1\n", "no_recipient_column"),
        ("phone,phone\n1,2\n", "duplicate_column"),
        ("phone,wa_id\n1,2\n", "duplicate_column"),
        ("phone,\n1,2\n", "blank_column"),
        ("phone,order no\n1,2\n", "bad_column"),
        (",".join(["phone"] + [f"c{i}" for i in range(MAX_COLUMNS)]) + "\n", "too_many_columns"),
    ],
)
def test_a_header_that_cannot_work_refuses_the_file(text, code):
    with pytest.raises(AudienceFileError) as caught:
        parse(text)
    assert caught.value.code == code and caught.value.message


def test_a_file_that_is_not_utf8_is_refused_with_a_hint():
    with pytest.raises(AudienceFileError) as caught:
        parse_audience_csv("phone,name\n+819012340001,山田\n".encode("shift_jis"))
    assert caught.value.code == "not_utf8" and "CSV UTF-8" in caught.value.message


@pytest.mark.parametrize(
    ("typed", "region", "expected"),
    [
        ("+1 (202) 555-0100", None, ("12025550100", "US")),
        ("0044 20 7946 0958", None, ("442079460958", "GB")),
        ("＋81 90 1234 0001", None, ("819012340001", "JP")),
        ("090-1234-0001", "JP", ("819012340001", "JP")),
    ],
)
def test_phone_forms(typed, region, expected):
    assert normalize_phone(typed, region) == expected


@pytest.mark.parametrize("typed", ["", "abc", "+999 1234", "12"])
def test_phone_refusals(typed):
    with pytest.raises(ValueError):
        normalize_phone(typed)
