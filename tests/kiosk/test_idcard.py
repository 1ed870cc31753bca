import datetime as dt

from kiosk import idcard


def test_check_digit_examples():
    # GB 11643 worked example: 11010519491231002 → X
    assert idcard.check_char("11010519491231002") == "X"
    assert idcard.validate("11010519491231002X").ok
    assert idcard.validate("11010519491231002x").value.endswith("X")


def test_bad_check_digit_names_expected_character():
    r = idcard.validate("110105194912310021")
    assert not r.ok and r.code == "check_digit"
    assert "应为 X" in r.message_zh


def test_length_chars_and_birth_date():
    assert idcard.validate("1234").code == "length"
    assert idcard.validate("11010519491231A02X").code == "chars"
    assert idcard.validate(idcard.make_valid("11010519491331002")).code == "birth_date"
    future = idcard.make_valid("11010520990101002")
    assert idcard.validate(future, today=dt.date(2026, 1, 1)).code == "birth_date"


def test_gender_from_sequence_digit():
    assert idcard.validate(idcard.make_valid("61011319900101123")).gender == "男"
    assert idcard.validate(idcard.make_valid("61011319900101124")).gender == "女"


def test_legacy_15_digit_is_accepted_and_flagged():
    r = idcard.validate("610113900101123")
    assert r.ok and r.legacy and r.birth_date == dt.date(1990, 1, 1)


def test_mask_keeps_first_and_last_four():
    assert idcard.mask("61010219900101123X") == "6101**********123X"
    assert idcard.mask("") == ""
