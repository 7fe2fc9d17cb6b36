"""The renewal order state machine: every allowed and illegal transition, compare-and-set, audit."""

from decimal import Decimal

import pytest

from pulse.models import OrderAuditEntry, OrderStatus, RenewalOrder
from pulse.services import order_state
from pulse.services.order_state import ALLOWED, IllegalTransition, transition
from pulse.tests.race_helpers import exceptions_in, run_together, skip_unless_shared_database

S = OrderStatus
ALL = [choice.value for choice in OrderStatus]
ALLOWED_PAIRS = [(source, target) for source in ALL for target in sorted(ALLOWED[source])]
ILLEGAL_PAIRS = [(source, target) for source in ALL for target in ALL if target not in ALLOWED[source]]


def make_order(status=S.PENDING, **fields) -> RenewalOrder:
    values = {
        "iccid": "8932042000010245583",
        "provider": "travelroam",
        "esim_reference": "8932042000010245583",
        "bundle_code": "esim_1GB_7D_TR_V2",
        "bundle_name": "eSIM, 1GB, 7 Days, Turkey, V2",
        "provider_cost": Decimal("1.23"),
        "provider_cost_currency": "USD",
        "amount": Decimal("1.60"),
        "currency": "USD",
        "gateway": "sandbox",
        "status": status,
    }
    values.update(fields)
    return RenewalOrder.objects.create(**values)


def test_the_table_matches_the_contract():
    assert ALLOWED[S.PENDING] == {S.PAID, S.FAILED, S.EXPIRED, S.CANCELLED}
    assert ALLOWED[S.PAID] == {S.FULFILLING}
    assert ALLOWED[S.FULFILLING] >= {S.COMPLETED, S.PROVIDER_FAILED}
    assert ALLOWED[S.PROVIDER_FAILED] == {S.FULFILLING, S.REFUND_PENDING, S.MANUAL_REVIEW}
    assert ALLOWED[S.REFUND_PENDING] == {S.REFUNDED, S.MANUAL_REVIEW}
    assert ALLOWED[S.COMPLETED] == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), ALLOWED_PAIRS)
def test_every_allowed_transition_moves_and_is_audited(source, target):
    order = make_order(source)
    assert transition(order, source, target, by="test", note="why") is True
    order.refresh_from_db()
    assert order.status == target
    entry = OrderAuditEntry.objects.get(order=order)
    assert (entry.from_status, entry.to_status, entry.source, entry.note) == (source, target, "test", "why")


@pytest.mark.parametrize(("source", "target"), ILLEGAL_PAIRS)
def test_every_illegal_transition_is_refused_before_touching_the_database(source, target):
    with pytest.raises(IllegalTransition):
        transition(1, source, target, by="test")


@pytest.mark.django_db
def test_a_transition_from_a_state_the_order_is_not_in_is_a_no_op():
    order = make_order(S.COMPLETED)
    assert transition(order, S.PAID, S.FULFILLING, by="test") is False
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert not OrderAuditEntry.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_fields_are_written_with_the_transition_and_attempts_increment():
    order = make_order(S.PAID)
    assert transition(order, S.PAID, S.FULFILLING, by="test", increment_attempts=True, last_error="x")
    order.refresh_from_db()
    assert (order.attempts, order.last_error) == (1, "x")


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_racing_claims_wins():
    skip_unless_shared_database()
    order = make_order(S.PAID)

    wins = run_together([lambda: transition(order.pk, S.PAID, S.FULFILLING, by="race") for _ in range(8)])

    assert not exceptions_in(wins), wins
    assert sorted(wins) == [False] * 7 + [True]
    assert OrderAuditEntry.objects.filter(order=order, to_status=S.FULFILLING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_listeners_run_after_commit_and_cannot_break_the_transition():
    seen = []

    def listener(pk, status):
        seen.append((pk, status))
        raise RuntimeError("mail server down")

    order_state.on_transition(listener)
    try:
        order = make_order(S.PENDING)
        assert transition(order, S.PENDING, S.CANCELLED, by="test")
    finally:
        order_state._listeners.remove(listener)
    assert seen == [(order.pk, S.CANCELLED)]
    order.refresh_from_db()
    assert order.status == S.CANCELLED
