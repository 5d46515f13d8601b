"""The caseworker's dashboard on the admin index."""

from django import template
from django.utils import timezone

from casework.overview import caseworker_dashboard

register = template.Library()


@register.inclusion_tag("admin/casework/dashboard.html", takes_context=True)
def dashboard(context):
    user = context["request"].user
    return {"dashboard": caseworker_dashboard(user=user, today=timezone.localdate()), "request": context["request"]}
