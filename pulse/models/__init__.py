"""Models of the pulse app, one module per subdomain."""

from pulse.models.alerts import AlertBudgetMinute, AlertSent, AlertSubscription
from pulse.models.catalog import Bundle, CatalogSync, ExchangeRate
from pulse.models.esims import KnownEsim, ProviderName
from pulse.models.jobs import JobLock, JobRun
from pulse.models.orders import (
    OrderAuditEntry,
    OrderStatus,
    PaymentEvent,
    PaymentTransaction,
    RenewalOrder,
    SandboxCheckout,
    SandboxRefund,
)
from pulse.models.overview import InstallCodeShown, ProviderLookupHour
from pulse.models.wallets import ProviderSalesPause

__all__ = [
    "AlertBudgetMinute",
    "AlertSent",
    "AlertSubscription",
    "Bundle",
    "CatalogSync",
    "ExchangeRate",
    "InstallCodeShown",
    "JobLock",
    "JobRun",
    "KnownEsim",
    "OrderAuditEntry",
    "OrderStatus",
    "PaymentEvent",
    "PaymentTransaction",
    "ProviderLookupHour",
    "ProviderName",
    "ProviderSalesPause",
    "RenewalOrder",
    "SandboxCheckout",
    "SandboxRefund",
]
