import secrets

from django.conf import settings
from django.db import models

from pulse.models.esims import ProviderName

_ORDER_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud to support


def new_order_id() -> str:
    """REN- plus 20 random characters (100 bits): unguessable, so the id can be used to poll."""
    return "REN-" + "".join(secrets.choice(_ORDER_ID_ALPHABET) for _ in range(20))


class OrderStatus(models.TextChoices):
    """Renewal order states (contract §6). Only `pulse.services.order_state.transition` changes them."""

    PENDING = "PENDING", "Pending payment"
    PAID = "PAID", "Paid"
    FULFILLING = "FULFILLING", "Placing top-up"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Payment failed"
    EXPIRED = "EXPIRED", "Checkout expired"
    CANCELLED = "CANCELLED", "Cancelled"
    PROVIDER_FAILED = "PROVIDER_FAILED", "Provider failed"
    REFUND_PENDING = "REFUND_PENDING", "Refund pending"
    REFUNDED = "REFUNDED", "Refunded"
    MANUAL_REVIEW = "MANUAL_REVIEW", "Manual review"


class RenewalOrder(models.Model):
    order_id = models.CharField(max_length=32, unique=True, default=new_order_id, editable=False)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING, db_index=True
    )

    # What is renewed, re-derived by the server (never taken from the client).
    iccid = models.CharField("ICCID", max_length=22, db_index=True)
    provider = models.CharField(max_length=16, choices=ProviderName.choices)
    esim_reference = models.CharField(
        "eSIM reference", max_length=128, help_text="The provider's key for the eSIM."
    )
    bundle = models.ForeignKey("pulse.Bundle", null=True, blank=True, on_delete=models.SET_NULL)
    bundle_code = models.CharField(max_length=128)
    bundle_name = models.CharField(max_length=255)
    package_id = models.CharField(max_length=128, blank=True)
    data_bytes = models.BigIntegerField(null=True, blank=True)
    unlimited = models.BooleanField(default=False)
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    provider_cost = models.DecimalField(max_digits=12, decimal_places=4)
    provider_cost_currency = models.CharField(max_length=3)

    # What the customer pays.
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)
    customer_email = models.EmailField(blank=True)
    client_request = models.JSONField(
        default=dict, blank=True, help_text="The known fields of the create body, as validated."
    )
    # A keyed hash (HMAC with SECRET_KEY) of who asked and what for: the requester's Idempotency-Key
    # or e-mail, the eSIM, bundle and currency. Unique, so two creates of one requester can never
    # hold two open orders, whatever the cache does; cleared when the order can no longer be handed
    # back (docs/renewals.md, "Who gets an open checkout back"). Empty for a create without identity.
    reuse_key = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

    # Payment.
    gateway = models.CharField(max_length=16)
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    checkout_expires_at = models.DateTimeField(null=True, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    refund_id = models.CharField(max_length=255, blank=True, db_index=True)

    # Fulfilment.
    provider_reference = models.CharField(max_length=255, unique=True, null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    # Customer e-mails sent (at most once each).
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
    refund_notice_sent_at = models.DateTimeField(null=True, blank=True)
    review_notice_sent_at = models.DateTimeField(null=True, blank=True)
    # The due e-mail could not be sent: since when (first failure, cleared once one is sent) and why.
    email_failing_since = models.DateTimeField(null=True, blank=True, db_index=True)
    email_error = models.CharField(max_length=255, blank=True, help_text="Why the last e-mail was not sent.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "lease_until"]),
            models.Index(fields=["status", "checkout_expires_at"]),
            models.Index(fields=["iccid", "bundle_code", "status"]),
            # The staff overview reads payments and refunds by day (pulse.selectors.overview).
            models.Index(fields=["paid_at"], name="order_paid_at"),
            models.Index(fields=["refunded_at"], name="order_refunded_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="order_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.order_id


class PaymentTransaction(models.Model):
    """Append-only ledger: one row per charge and per refund."""

    class Kind(models.TextChoices):
        CHARGE = "CHARGE", "Charge"
        REFUND = "REFUND", "Refund"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        PAID = "PAID", "Paid"
        FAILED = "FAILED", "Failed"
        REFUNDED = "REFUNDED", "Refunded"

    order = models.ForeignKey(RenewalOrder, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    gateway_reference = models.CharField(
        max_length=255, help_text="Checkout session, payment intent or refund id."
    )
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind", "gateway_reference"], name="transaction_unique_reference"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.status})"


class PaymentEvent(models.Model):
    """A raw webhook event as received, deduplicated by the gateway's event id."""

    class Result(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (not ours or not handled)"
        FAILED = "failed", "Failed (the gateway will retry)"

    event_id = models.CharField(max_length=255, unique=True)
    gateway = models.CharField(max_length=16)
    type = models.CharField(max_length=128)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True)
    order = models.ForeignKey(
        RenewalOrder, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    payload = models.JSONField(default=dict)
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.RECEIVED)
    error = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class OrderAuditEntry(models.Model):
    """Who moved an order, when, why: every transition and every staff action."""

    order = models.ForeignKey(RenewalOrder, on_delete=models.CASCADE, related_name="audit")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=32, help_text="confirm, webhook, reconciler, admin, sandbox…")
    action = models.CharField(max_length=64)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "order audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.from_status}→{self.to_status}"


class SandboxCheckout(models.Model):
    """The sandbox payment gateway's own checkout sessions (no keys; never used with Stripe)."""

    session_id = models.CharField(max_length=64, unique=True)
    client_reference_id = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255, blank=True)
    customer_email = models.EmailField(blank=True)
    metadata = models.JSONField(default=dict)
    status = models.CharField(max_length=16, default="open")  # open | complete | expired
    payment_status = models.CharField(max_length=16, default="unpaid")  # unpaid | paid
    payment_intent_id = models.CharField(max_length=64, blank=True)
    success_url = models.URLField(max_length=2000)
    cancel_url = models.URLField(max_length=2000)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.session_id


class SandboxRefund(models.Model):
    refund_id = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    payment_intent_id = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, default="succeeded")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.refund_id
