"""Double-entry books of entitlements: each movement debits one account and credits another.

Accounts (balances are credits minus debits, in fen):

    commitment:<payer>        what the payer has committed, as a negative balance
    entitlement:<credit code> owed to the enterprise and not yet paid
    paid:<credit code>        paid to the enterprise
    clawback:<credit code>    paid beyond what is owed now: a claim on the enterprise (negative)

For one entitlement and one payer the books follow from two numbers: ``owed`` (what the facts say
is owed now) and ``paid``. ``commitment = -owed``, ``entitlement = max(owed - paid, 0)``,
``paid = paid``, ``clawback = -max(paid - owed, 0)``; they sum to zero. Every change of ``owed``
or ``paid`` is posted as the transfers that move the balances from the old numbers to the new;
nothing is ever updated or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["owed", "notified", "confirmed", "paid", "declined", "expired", "clawed_back", "cancelled"]
STATES: tuple[State, ...] = ("owed", "notified", "confirmed", "paid", "declined", "expired", "clawed_back",
                             "cancelled")


@dataclass(frozen=True, slots=True)
class Transfer:
    """``amount`` fen moved from ``debit`` to ``credit`` (both account names), for one payer."""

    debit: str
    credit: str
    amount: int
    payer: str


def commitment(payer: str) -> str:
    return f"commitment:{payer}"


def _accounts(code: str) -> tuple[str, str, str]:
    return f"entitlement:{code}", f"paid:{code}", f"clawback:{code}"


def reassess(code: str, payer: str, owed: int, paid: int, new_owed: int) -> list[Transfer]:
    """The transfers that change what is owed from ``owed`` to ``new_owed``, ``paid`` unchanged.

    What is not yet paid is committed or released; a reduction below what was paid becomes a
    clawback claim (and a later increase first settles that claim)."""
    ent, _, claw = _accounts(code)
    out: list[Transfer] = []
    unpaid, new_unpaid = max(owed - paid, 0), max(new_owed - paid, 0)
    claim, new_claim = max(paid - owed, 0), max(paid - new_owed, 0)
    if new_unpaid > unpaid:
        out.append(Transfer(commitment(payer), ent, new_unpaid - unpaid, payer))
    elif new_unpaid < unpaid:
        out.append(Transfer(ent, commitment(payer), unpaid - new_unpaid, payer))
    if new_claim > claim:
        out.append(Transfer(claw, commitment(payer), new_claim - claim, payer))
    elif new_claim < claim:
        out.append(Transfer(commitment(payer), claw, claim - new_claim, payer))
    return out


def repay(code: str, payer: str, owed: int, paid: int, new_paid: int) -> list[Transfer]:
    """The transfers that change what is paid (or counted as paid) from ``paid`` to ``new_paid``,
    ``owed`` unchanged: a payment leaves the unpaid entitlement first, and only beyond it makes a
    claim; money counted as paid elsewhere (an offset) comes back from the claim first."""
    ent, paid_account, claw = _accounts(code)
    out: list[Transfer] = []
    unpaid, new_unpaid = max(owed - paid, 0), max(owed - new_paid, 0)
    claim, new_claim = max(paid - owed, 0), max(new_paid - owed, 0)
    if new_unpaid < unpaid:
        out.append(Transfer(ent, paid_account, unpaid - new_unpaid, payer))
    elif new_unpaid > unpaid:
        out.append(Transfer(paid_account, ent, new_unpaid - unpaid, payer))
    if new_claim > claim:
        out.append(Transfer(claw, paid_account, new_claim - claim, payer))
    elif new_claim < claim:
        out.append(Transfer(paid_account, claw, claim - new_claim, payer))
    return out


def balances(owed: int, paid: int) -> dict[str, int]:
    """The balances one entitlement and payer leave on the four kinds of account."""
    return {"commitment": -owed, "entitlement": max(owed - paid, 0), "paid": paid,
            "clawback": -max(paid - owed, 0)}


def state(owed: int, paid: int, *, declined: bool, expired: bool, confirmed: bool, notified: bool) -> State:
    """The state of an entitlement from its totals over payers and what happened to it.

    owed → notified → confirmed → paid, or declined / expired / clawed_back; ``cancelled`` when the
    facts no longer support it and nothing was paid."""
    if paid > owed:
        return "clawed_back"
    if declined:   # what was paid before stays paid; nothing more is owed
        return "declined"
    if expired:
        return "expired"
    if owed > 0 and paid == owed:
        return "paid"
    if owed == 0:
        return "cancelled"
    return "confirmed" if confirmed else "notified" if notified else "owed"
