import pytest

from pulse.models import PaymentTransaction
from pulse.services.refunds import refund_key
from pulse.tests.test_order_state import make_order


@pytest.mark.django_db
def test_refund_key_is_stable_until_a_refund_definitely_failed():
    order = make_order("REFUND_PENDING")
    assert refund_key(order) == f"refund:{order.order_id}"
    assert refund_key(order) == f"refund:{order.order_id}"  # any retry: the same key
    PaymentTransaction.objects.create(
        order=order,
        kind="REFUND",
        status="FAILED",
        amount=order.amount,
        currency="USD",
        gateway_reference="re_1",
    )
    # The gateway would replay the failed refund for the old key: a new attempt needs a new one.
    assert refund_key(order) == f"refund:{order.order_id}:2"
