"""The caseworker's dashboard on the admin index (each programme's rows on its own today)."""

from django import template

from backoffice.overview import caseworker_dashboard

register = template.Library()


@register.inclusion_tag("admin/casework/dashboard.html", takes_context=True)
def dashboard(context):
    user = context["request"].user
    return {"dashboard": caseworker_dashboard(user=user), "request": context["request"]}
