"""Template filters for the staff admin."""

from django import template
from django.utils.text import capfirst

register = template.Library()


@register.filter
def admin_label(label) -> str:
    """A field label with its first letter capitalised, as Django's admin does, unless its first word
    is already mixed case: "order id" -> "Order id", but "eSIM reference" stays (never "ESIM")."""
    text = str(label)
    first_word = text.split(" ", 1)[0]
    return text if any(char.isupper() for char in first_word[1:]) else capfirst(text)
