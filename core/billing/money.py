"""Money of statements: amounts as Decimal yuan with two places, half-up rounding, 大写 numerals."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.errors import InvalidInput

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# A bound no real bill reaches, so a typo of extra digits is refused instead of recorded.
MAX_AMOUNT = Decimal("1000000000.00")
_PLAIN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?", re.ASCII)


def to_fen(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to the fen: once per line, never on sums of rounded lines."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def parse_money(value: str | Decimal, what: str = "an amount", *, positive: bool = True) -> Decimal:
    """An amount an operator typed: finite, at most 2 decimals, > 0 (or != 0 with ``positive``
    False, for notes), below ``MAX_AMOUNT``. Anything else is InvalidInput, nothing recorded."""
    raw = str(value).strip()
    # Plain ASCII digits only: Decimal() also takes "1e3", "NaN" and full-width digits.
    if not isinstance(value, Decimal) and _PLAIN.fullmatch(raw) is None:
        raise InvalidInput(
            f"{what} is not a plain number like 12.50: {value!r}",
            code="money.not_plain",
            field=what,
            value=value,
        )
    try:
        amount = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(
            f"{what} is not a number: {value!r}", code="money.not_number", field=what, value=value
        ) from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int):
        raise InvalidInput(
            f"{what} is not a number: {value!r}", code="money.not_number", field=what, value=value
        )
    if exponent < -2:
        raise InvalidInput(
            f"{what} has at most 2 decimals (whole fen): {value}",
            code="money.decimals",
            field=what,
            value=value,
        )
    if positive and amount <= 0:
        raise InvalidInput(
            f"{what} must be more than 0: {value}",
            code="money.not_positive",
            field=what,
            value=value,
        )
    if not positive and amount == 0:
        raise InvalidInput(f"{what} must not be 0", code="money.zero", field=what)
    if abs(amount) >= MAX_AMOUNT:
        raise InvalidInput(
            f"{what} is too large: {value}", code="money.too_large", field=what, value=value
        )
    return amount.quantize(FEN)


def text(amount: Decimal) -> str:
    """The wire form of an amount: plain digits with two decimals (``"12.50"``)."""
    return format(to_fen(amount), "f")


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_BIG_UNITS = ("", "万", "亿", "万亿")


def _four(digits: str) -> str:
    """A group of up to four digits in capitals, with 零 for the zeros inside it."""
    out: list[str] = []
    zero = False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index
        if char == "0":
            zero = True
            continue
        if zero and out:
            out.append("零")
        zero = False
        out.append(_DIGITS[int(char)] + _SMALL_UNITS[position])
    return "".join(out)


def capital(amount: Decimal) -> str:
    """人民币大写 of ``amount`` as written on Chinese bills: 壹万零伍拾元整, 叁元零伍分, 负….

    Follows the bank rules: 零 for skipped digits (once per run), 整 when there are no fen."""
    amount = to_fen(amount)
    if amount < 0:
        return "负" + capital(-amount)
    fen_total = int(amount * 100)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    if fen_total == 0:
        return "零元整"
    parts: list[str] = []
    if yuan:
        text_yuan = str(yuan)
        groups = []
        while text_yuan:
            groups.append(text_yuan[-4:])
            text_yuan = text_yuan[:-4]
        written: list[str] = []
        need_zero = False
        for level in range(len(groups) - 1, -1, -1):
            group = groups[level]
            if int(group) == 0:
                need_zero = True
                continue
            if written and (need_zero or len(group) < 4 or group[0] == "0"):
                written.append("零")
            written.append(_four(group.lstrip("0") if written else group) + _BIG_UNITS[level])
            need_zero = False
        parts.append("".join(written) + "元")
    if jiao == 0 and fen == 0:
        return "".join(parts) + "整"
    if jiao:
        parts.append(_DIGITS[jiao] + "角")
    elif yuan:
        parts.append("零")
    if fen:
        parts.append(_DIGITS[fen] + "分")
    else:
        parts.append("整")
    return "".join(parts)
