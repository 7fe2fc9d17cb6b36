"""The staff actions offered on the order admin: their forms, labels and how the outcome is reported.

Each action calls one function of `pulse.services.staff_actions`; nothing here changes an order itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.urls import reverse

from pulse.exceptions import ApplicationError
from pulse.models import OrderStatus, RenewalOrder
from pulse.services import staff_actions

S = OrderStatus


# --- action forms and specs ----------------------------------------------------------------------


class NoteForm(forms.Form):
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why you are doing this; kept in the order's audit trail.",
    )


class RequiredNoteForm(NoteForm):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the order's audit trail with your name and the time.",
    )


class MarkCompletedForm(forms.Form):
    provider_reference = forms.CharField(
        max_length=255,
        help_text="The provider's reference of the top-up you found or placed in its portal.",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What you checked, e.g. “bundle visible on the eSIM in the TravelRoam portal”.",
    )


@dataclass(frozen=True)
class OrderAction:
    key: str
    label: str
    explanation: str
    form: type[forms.Form]
    run: Callable[..., RenewalOrder]
    hoped_for: tuple[str, ...]  # statuses that mean "it worked"; anything else is shown as a warning


ORDER_ACTIONS: dict[str, OrderAction] = {
    action.key: action
    for action in (
        OrderAction(
            "retry",
            "Retry fulfilment",
            "Places the top-up with the provider again (after asking it whether an earlier attempt "
            "went through). If the provider refuses again, the usual refund rules apply.",
            NoteForm,
            staff_actions.retry_fulfilment,
            (S.COMPLETED,),
        ),
        OrderAction(
            "refund",
            "Refund",
            "Refunds the full payment to the customer and e-mails them. Safe to repeat: the payment "
            "gateway refunds an order at most once.",
            NoteForm,
            staff_actions.refund,
            (S.REFUNDED,),
        ),
        OrderAction(
            "mark_completed",
            "Mark completed",
            "For a top-up you confirmed (or placed) in the provider's portal yourself. The customer "
            "gets the receipt e-mail.",
            MarkCompletedForm,
            staff_actions.mark_completed,
            (S.COMPLETED,),
        ),
        OrderAction(
            "resend_email",
            "Resend e-mail",
            "Sends the customer the e-mail for the order's current status again.",
            NoteForm,
            staff_actions.resend_email,
            (S.COMPLETED, S.REFUNDED, S.MANUAL_REVIEW),
        ),
        OrderAction(
            "note",
            "Add note",
            "Adds a note to the audit trail without changing the order.",
            RequiredNoteForm,
            staff_actions.add_note,
            tuple(S.values),
        ),
    )
}


def error_text(exc: ApplicationError) -> str:
    return f"{exc.message} {exc.details}".strip()


def report(request: HttpRequest, action: OrderAction, order: RenewalOrder) -> None:
    """Tell staff what the action achieved: success, or where the order ended up and why."""
    status = order.get_status_display()
    if order.status in action.hoped_for:
        messages.success(request, f"Order {order.order_id}: {action.label.lower()} done; it is now {status}.")
        return
    detail = f" Last error: {order.last_error}" if order.last_error else ""
    if order.status == S.FULFILLING:
        detail += " The provider's answer was unclear; the reconciler will check and settle it."
    messages.warning(
        request, f"Order {order.order_id}: {action.label.lower()} done; it is now {status}.{detail}"
    )


def action_url(order: RenewalOrder, key: str) -> str:
    return reverse("admin:pulse_renewalorder_action", args=[order.pk, key])
