"""The caseworker's dashboard on the admin index (each programme's rows on its own today)."""

from django import template

from backoffice import who
from backoffice import overview
from backoffice.overview import caseworker_dashboard

register = template.Library()


@register.inclusion_tag("admin/casework/dashboard.html", takes_context=True)
def dashboard(context):
    user = context["request"].user
    return {"dashboard": caseworker_dashboard(user=user), "request": context["request"]}


@register.simple_tag
def who_line(row, case, to=""):
    """Reference (a link), name (to those who may see it), age, family and place of a worklist row."""
    return who.who_line(row, case, to=to)


@register.inclusion_tag("admin/casework/supervisor_desk.html", takes_context=True)
def supervisor_desk(context):
    """The supervisor's desk above "My work": nothing for staff who supervise no programme."""
    return {"desk": overview.supervisor_desk(user=context["request"].user), "request": context["request"]}
