import pytest

from providers.iccid import IccidError, luhn_valid, mask_iccid, normalize_iccid, validate_iccid

SEED_ICCID = "8932042000010245583"


def test_seed_iccid_is_valid():
    assert validate_iccid(SEED_ICCID) == SEED_ICCID


def test_spaces_and_dashes_are_stripped():
    assert validate_iccid(" 8932 0420-0001 0245 583 ") == SEED_ICCID


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "ICCID is required."),
        (None, "ICCID is required."),
        ("8932042000010245583A", "digits only"),
        ("89320420000102", "18 to 22 digits long, got 14"),
        ("89320420000102455831234", "18 to 22 digits long, got 23"),
        ("1932042000010245583", "must start with 89"),
        ("8932042000010245584", "Luhn check failed"),
        ("٨٩٣٢٠٤٢٠٠٠٠١٠٢٤٥٥٨٣", "digits only"),
    ],
)
def test_each_rule_says_what_failed(raw, message):
    with pytest.raises(IccidError, match=message):
        validate_iccid(raw)


def test_luhn_can_be_relaxed():
    assert validate_iccid("8932042000010245584", require_luhn=False) == "8932042000010245584"


def test_luhn():
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_mask_keeps_first_six_and_last_four():
    assert mask_iccid(SEED_ICCID) == "893204*********5583"
    assert mask_iccid("89 3204-2000010245583") == "893204*********5583"
    assert mask_iccid("12345") == "*****"


def test_normalize_does_not_validate():
    assert normalize_iccid("12 34-5") == "12345"
