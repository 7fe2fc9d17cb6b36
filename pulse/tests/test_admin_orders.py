"""The order admin through Django's test client: list, filters, search, detail, staff actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.utils import timezone

from pulse.admin import orders as orders_admin
from pulse.models import OrderAuditEntry, PaymentEvent, RenewalOrder
from pulse.tests.staff_helpers import (
    ADMIN_ORDERS,
    CUSTOMER,
    DEMO_ICCID,
    S,
    action_url,
    change_url,
    customer_client_fixture,  # noqa: F401
    messages_of,
    paid_order,
    sandbox_world_fixture,  # noqa: F401
    set_status,
    staff_client_fixture,  # noqa: F401
    staff_user_fixture,  # noqa: F401
    trail,
)

pytestmark = pytest.mark.django_db


def listed(response) -> list[str]:
    """Order ids on a changelist page, in order."""
    return [order.order_id for order in response.context["cl"].result_list]


def bulk(client: Client, action: str, orders: list[RenewalOrder], *, follow: bool = False, **extra):
    data = {"action": action, "_selected_action": [o.pk for o in orders], **extra}
    return client.post(ADMIN_ORDERS, data, follow=follow)


# --- the "done when" walk-through ----------------------------------------------------------------


def test_staff_find_a_provider_failed_order_retry_it_and_see_it_completed(sandbox_world, staff_client):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    paid_order(sandbox_world)  # a healthy order that must not show up

    found = staff_client.get(ADMIN_ORDERS, {"attention": "all"})
    assert found.status_code == 200
    assert listed(found) == [order.order_id]
    assert "Provider failed (1)" in found.content.decode()

    page = staff_client.get(change_url(order))
    assert page.status_code == 200
    assert f'href="{action_url(order, "retry")}"' in page.content.decode()
    assert staff_client.get(action_url(order, "retry")).status_code == 200

    done = staff_client.post(action_url(order, "retry"), {"note": "stock is back"}, follow=True)

    assert done.redirect_chain == [(change_url(order), 302)]
    assert messages_of(done) == [
        ("success", f"Order {order.order_id}: retry fulfilment done; it is now Completed.")
    ]
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert (
        "admin",
        "staff retry fulfilment",
        S.PROVIDER_FAILED,
        S.FULFILLING,
        "ops",
        "stock is back",
    ) in trail(order)
    shown = done.content.decode()
    assert "staff retry fulfilment" in shown
    assert "stock is back" in shown


# --- changelist actions --------------------------------------------------------------------------


def test_bulk_retry_asks_for_confirmation_then_retries(sandbox_world, staff_client):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)

    confirm = bulk(staff_client, "retry_selected", [order], index=0)
    assert confirm.status_code == 200
    assert "admin/pulse/renewalorder/bulk_action.html" in [t.name for t in confirm.templates]
    assert order.order_id in confirm.content.decode()
    order.refresh_from_db()
    assert order.status == S.PROVIDER_FAILED  # nothing happens before the confirmation

    done = bulk(staff_client, "retry_selected", [order], confirm="yes", note="bulk retry")
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert ("admin", "staff retry fulfilment", S.PROVIDER_FAILED, S.FULFILLING, "ops", "bulk retry") in trail(
        order
    )


def test_bulk_refund_reports_each_order_and_refuses_the_ones_it_cannot_refund(sandbox_world, staff_client):
    failed = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    completed = paid_order(sandbox_world)

    done = bulk(staff_client, "refund_selected", [failed, completed], confirm="yes", note="", follow=True)

    assert done.status_code == 200
    assert sorted(messages_of(done)) == [
        (
            "error",
            (
                f"Order {completed.order_id} is completed: the customer received the top-up, so it cannot be "
                "refunded from here. For a goodwill refund, refund the payment in the payment dashboard and add "
                "a note to this order saying why."
            ),
        ),
        ("success", f"Order {failed.order_id}: refund done; it is now Refunded."),
    ]
    failed.refresh_from_db()
    completed.refresh_from_db()
    assert (failed.status, completed.status) == (S.REFUNDED, S.COMPLETED)


def test_bulk_mark_completed_sends_staff_to_the_form_of_one_order(sandbox_world, staff_client, settings):
    settings.RENEWAL_AUTO_REFUND = False
    first = paid_order(sandbox_world, refuse_top_up=True)
    second = paid_order(sandbox_world, refuse_top_up=True)

    one = bulk(staff_client, "mark_completed_selected", [first], index=0)
    assert (one.status_code, one["Location"]) == (302, action_url(first, "mark_completed"))

    two = bulk(staff_client, "mark_completed_selected", [first, second], index=0, follow=True)
    assert messages_of(two) == [
        ("error", "Select exactly one order to mark completed: each needs its own provider reference.")
    ]


# --- single-order actions ------------------------------------------------------------------------


def test_mark_completed_form_requires_a_note_and_the_reference(sandbox_world, staff_client, settings):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)

    empty = staff_client.post(action_url(order, "mark_completed"), {"note": "", "provider_reference": ""})
    assert empty.status_code == 200
    assert empty.context["form"].errors == {
        "note": ["This field is required."],
        "provider_reference": ["This field is required."],
    }
    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW

    done = staff_client.post(
        action_url(order, "mark_completed"),
        {"note": "visible in the portal", "provider_reference": "TR-555"},
        follow=True,
    )
    assert messages_of(done) == [
        ("success", f"Order {order.order_id}: mark completed done; it is now Completed.")
    ]
    order.refresh_from_db()
    assert (order.status, order.provider_reference) == (S.COMPLETED, "TR-555")
    assert trail(order)[-1] == (
        "admin",
        "staff marked completed",
        S.MANUAL_REVIEW,
        S.COMPLETED,
        "ops",
        "visible in the portal",
    )


def test_a_duplicate_provider_reference_is_shown_on_the_form(sandbox_world, staff_client, settings):
    other = paid_order(sandbox_world)
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)

    response = staff_client.post(
        action_url(order, "mark_completed"), {"note": "n", "provider_reference": other.provider_reference}
    )

    assert response.status_code == 200
    message = f"Provider reference {other.provider_reference} already belongs to order {other.order_id}."
    assert response.context["form"].errors == {"provider_reference": [message]}


def test_refund_from_the_order_page(sandbox_world, staff_client):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    done = staff_client.post(action_url(order, "refund"), {"note": "customer asked"}, follow=True)
    assert messages_of(done) == [("success", f"Order {order.order_id}: refund done; it is now Refunded.")]
    order.refresh_from_db()
    assert order.status == S.REFUNDED


@pytest.mark.parametrize(
    ("action", "data", "expected"),
    [
        (
            "retry",
            {},
            (
                "Cannot retry fulfilment of order {id}: it is completed. This action is for provider failed or "
                "manual review orders."
            ),
        ),
        (
            "mark_completed",
            {"note": "n", "provider_reference": "TR-1"},
            "Cannot mark completed order {id}: it is completed. This action is for manual review orders.",
        ),
    ],
)
def test_a_refused_transition_shows_a_message_not_an_error_page(
    sandbox_world, staff_client, action, data, expected
):
    order = paid_order(sandbox_world)
    response = staff_client.post(action_url(order, action), data, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(change_url(order), 302)]
    assert messages_of(response) == [("error", expected.format(id=order.order_id))]
    order.refresh_from_db()
    assert order.status == S.COMPLETED


def test_the_order_page_offers_only_the_actions_its_status_allows(sandbox_world, staff_client, settings):
    completed = paid_order(sandbox_world)
    settings.RENEWAL_AUTO_REFUND = False
    review = paid_order(sandbox_world, refuse_top_up=True)

    def offered(order):
        return [a["key"] for a in staff_client.get(change_url(order)).context["order_actions"]]

    assert offered(completed) == ["resend_email", "note"]
    assert offered(review) == ["retry", "refund", "mark_completed", "resend_email", "note"]


def test_unknown_action_or_order_is_404(sandbox_world, staff_client):
    order = paid_order(sandbox_world)
    assert staff_client.get(action_url(order, "delete_everything")).status_code == 404
    assert staff_client.get(f"{ADMIN_ORDERS}999999/actions/retry/").status_code == 404


# --- access --------------------------------------------------------------------------------------


def test_non_staff_users_are_sent_to_the_login_page_and_nothing_happens(sandbox_world, customer_client):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    for client in (customer_client, Client()):
        for response in (
            client.get(ADMIN_ORDERS),
            client.get(change_url(order)),
            client.post(action_url(order, "retry"), {"note": "x"}),
            client.post(action_url(order, "refund"), {"note": "x"}),
            bulk(client, "retry_selected", [order], confirm="yes"),
        ):
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")
    order.refresh_from_db()
    assert order.status == S.PROVIDER_FAILED
    assert not OrderAuditEntry.objects.filter(order=order, source="admin").exists()


def test_staff_who_may_only_view_orders_cannot_act(sandbox_world):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    viewer = get_user_model().objects.create_user(
        "viewer", "v@example.com", "pw-for-tests-only", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_renewalorder"))
    client = Client()
    client.force_login(viewer)

    assert client.get(change_url(order)).status_code == 200
    assert client.post(action_url(order, "retry"), {"note": "x"}).status_code == 403
    bulk(client, "retry_selected", [order], confirm="yes")
    order.refresh_from_db()
    assert order.status == S.PROVIDER_FAILED


def test_orders_cannot_be_added_or_deleted(sandbox_world, staff_client):
    order = paid_order(sandbox_world)
    assert staff_client.get(f"{ADMIN_ORDERS}add/").status_code == 403
    assert staff_client.post(f"{ADMIN_ORDERS}{order.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RenewalOrder.objects.filter(pk=order.pk).exists()


# --- list, filters, search -----------------------------------------------------------------------


def test_the_list_shows_the_columns_staff_need_with_a_masked_iccid(sandbox_world, staff_client):
    order = paid_order(sandbox_world)
    response = staff_client.get(ADMIN_ORDERS)
    content = response.content.decode()
    assert listed(response) == [order.order_id]
    for text in (order.order_id, "Completed", "TravelRoam", "1.60", "USD", "893204*********5583"):
        assert text in content
    assert DEMO_ICCID not in content


def test_filters_by_status_provider_date_and_needs_attention(sandbox_world, staff_client):
    now = timezone.now()
    completed = paid_order(sandbox_world)
    review = set_status(paid_order(sandbox_world), S.MANUAL_REVIEW)
    stuck = set_status(paid_order(sandbox_world), S.FULFILLING, lease_until=now - timedelta(minutes=1))
    pending = set_status(paid_order(sandbox_world), S.PENDING, checkout_expires_at=now - timedelta(minutes=1))
    slow = set_status(paid_order(sandbox_world), S.REFUND_PENDING, updated_at=now - timedelta(hours=3))
    old = set_status(paid_order(sandbox_world), S.COMPLETED)
    RenewalOrder.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=40))

    def ids(**params):
        return sorted(listed(staff_client.get(ADMIN_ORDERS, params)))

    assert ids(status__exact=S.MANUAL_REVIEW) == [review.order_id]
    assert ids(provider__exact="travelroam") == sorted(
        o.order_id for o in (completed, review, stuck, pending, slow, old)
    )
    assert ids(provider__exact="airhub") == []
    assert old.order_id not in ids(created_at__gte=(now - timedelta(days=7)).isoformat())
    assert ids(attention="manual_review") == [review.order_id]
    assert ids(attention="stuck_fulfilling") == [stuck.order_id]
    assert ids(attention="stale_pending") == [pending.order_id]
    assert ids(attention="slow_refund") == [slow.order_id]
    assert ids(attention="all") == sorted(o.order_id for o in (review, stuck, pending, slow))
    assert "Any of these (4)" in staff_client.get(ADMIN_ORDERS).content.decode()


@pytest.mark.parametrize(
    "term",
    [
        "{order_id}",
        "{order_id_lower}",
        DEMO_ICCID,
        "8932 0420 0001 0245 583",
        "5583",
        CUSTOMER.upper(),
        "{session}",
    ],
)
def test_search_by_order_id_iccid_email_and_checkout_session(sandbox_world, staff_client, term):
    order = paid_order(sandbox_world)
    paid_order(sandbox_world, email="someone.else@example.com")
    paid_order(sandbox_world, email="third@example.com")  # the same eSIM, another customer and session
    query = term.format(
        order_id=order.order_id, order_id_lower=order.order_id.lower(), session=order.checkout_session_id
    )
    found = listed(staff_client.get(ADMIN_ORDERS, {"q": query}))
    assert order.order_id in found
    if term.startswith("{") or "@" in term:
        assert found == [order.order_id]


def test_a_search_with_no_match_lists_nothing(sandbox_world, staff_client):
    paid_order(sandbox_world)
    assert listed(staff_client.get(ADMIN_ORDERS, {"q": "REN-NOTHING"})) == []
    assert listed(staff_client.get(ADMIN_ORDERS, {"q": "8944000000000000605"})) == []


# --- the order page ------------------------------------------------------------------------------


def test_the_order_page_shows_transactions_events_audit_and_pretty_escaped_json(sandbox_world, staff_client):
    order = paid_order(sandbox_world)
    event = PaymentEvent.objects.get(order=order)
    RenewalOrder.objects.filter(pk=order.pk).update(
        client_request={
            "plan_name": "<b>Turkey</b>",
            "activation_code": "LPA:1$smdp.example$SECRET-MATCHING-ID",
        }
    )

    content = staff_client.get(change_url(order)).content.decode()

    assert order.checkout_session_id in content  # the charge row's gateway reference
    assert event.event_id in content
    assert "checkout.session.completed" in content
    for action in ("created", "paid", "claim", "to completed"):  # the audit trail, in order
        assert re.search(rf'<td class="field-action">\s*<p>{action}</p>', content), action
    assert '<pre class="pulse-json"' in content
    assert "\n  &quot;type&quot;: &quot;checkout.session.completed&quot;" in content  # indented, escaped
    assert "&lt;b&gt;Turkey&lt;/b&gt;" in content
    assert "<b>Turkey</b>" not in content
    assert "SECRET-MATCHING-ID" not in content
    assert "[hidden]" in content


def test_status_and_money_are_read_only_and_only_the_e_mail_can_change(sandbox_world, staff_client):
    order = paid_order(sandbox_world)
    response = staff_client.post(
        change_url(order),
        {
            "customer_email": "new@example.com",
            "status": S.REFUNDED,
            "amount": "0.01",
            "currency": "EUR",
            **_empty_inline_management(),
        },
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.customer_email, order.status, str(order.amount), order.currency) == (
        "new@example.com",
        S.COMPLETED,
        "1.60",
        "USD",
    )
    assert trail(order)[-1] == ("admin", "customer_email changed", S.COMPLETED, S.COMPLETED, "ops", "")


def _empty_inline_management() -> dict[str, str]:
    data = {}
    for prefix in ("transactions", "events", "audit"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def test_bulk_actions_are_limited_to_a_few_orders_at_a_time(sandbox_world, staff_client, monkeypatch):
    monkeypatch.setattr(orders_admin, "BULK_LIMIT", 1)
    first = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    second = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)

    response = bulk(staff_client, "retry_selected", [first, second], confirm="yes", follow=True)

    assert messages_of(response) == [("error", "Select at most 1 orders at a time for retry fulfilment.")]
    assert set(RenewalOrder.objects.values_list("status", flat=True)) == {S.PROVIDER_FAILED}


def test_resend_e_mail_and_add_note_from_the_order_page(sandbox_world, staff_client):
    order = paid_order(sandbox_world)

    resent = staff_client.post(action_url(order, "resend_email"), {"note": "new address"}, follow=True)
    assert messages_of(resent) == [
        ("success", f"Order {order.order_id}: resend e-mail done; it is now Completed.")
    ]
    assert [m.to for m in mail.outbox] == [[CUSTOMER]]

    blank = staff_client.post(action_url(order, "note"), {"note": "  "})
    assert blank.context["form"].errors == {"note": ["This field is required."]}
    staff_client.post(action_url(order, "note"), {"note": "customer called"})
    assert trail(order)[-2:] == [
        ("admin", "resent receipt e-mail", S.COMPLETED, S.COMPLETED, "ops", "new address"),
        ("admin", "staff note", S.COMPLETED, S.COMPLETED, "ops", "customer called"),
    ]


# --- labels and layout (issue 11, item 11; the real-browser check is tests/browser/test_layout_1280.py) --


def test_the_order_page_spells_iccid_and_esim_as_written(sandbox_world, staff_client):
    html = staff_client.get(change_url(paid_order(sandbox_world))).content.decode()
    assert "<label>ICCID:</label>" in html
    assert "<label>eSIM reference:</label>" in html
    assert "<label>Order id:</label>" in html  # other labels still start with a capital
    assert "Iccid" not in html
    assert "ESIM reference" not in html
    assert "pulse/admin/orders.css" in html  # long ids wrap instead of widening the page


@pytest.mark.parametrize(
    ("label", "shown"),
    [("order id", "Order id"), ("eSIM reference", "eSIM reference"), ("ICCID", "ICCID"), ("", "")],
)
def test_admin_labels_keep_a_mixed_case_first_word(label, shown):
    from pulse.templatetags.pulse_admin import admin_label

    assert admin_label(label) == shown
