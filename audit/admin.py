"""The audit trail in the admin: searchable by person, user, agency, door and time; never editable."""

from auditlog.admin import LogEntryAdmin
from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry, persons_key
from core.roles import is_administrator

# django-auditlog's own labels (its column titles, the change table's headers, the
# actions and its model's fields) ship with no Russian, Kazakh or Arabic catalogue:
# listed here so that this project's catalogues translate them (gettext finds them there).
AUDITLOG_LABELS = (
    _("Audit log"),
    _("Audit log: %s"),
    _("View"),
    _("Correlation ID"),
    _("Click to filter by records with this correlation id"),
    _("Created"),
    _("User"),
    _("Changes"),
    _("Resource"),
    _("Resource Type"),
    _("Field"),
    _("From"),
    _("To"),
    _("Action"),
    _("Objects"),
    _("Relationship"),
    _("create"),
    _("update"),
    _("delete"),
    _("access"),
    _("content type"),
    _("object pk"),
    _("object id"),
    _("object representation"),
    _("action"),
    _("change message"),
    _("actor"),
    _("remote address"),
    _("remote port"),
    _("timestamp"),
    _("additional data"),
    _("actor email"),
    _("log entry"),
    _("log entries"),
    _("Created {repr:s}"),
    _("Updated {repr:s}"),
    _("Deleted {repr:s}"),
    _("Logged {repr:s}"),
)

if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)


class PersonFilter(admin.SimpleListFilter):
    """``?person=ID``: every entry about one person (their case, names, stages, reads)."""

    title = _("person")
    parameter_name = "person"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, _("person #%(id)s") % {"id": value})] if value and value.isdigit() else []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(persons__contains=persons_key([value]))


class AuditEntryForm(forms.ModelForm):
    class Meta:
        model = AuditEntry
        fields = []


@admin.register(AuditEntry)
class AuditEntryAdmin(LogEntryAdmin):
    """Administrators (and users given the audit view permission, e.g. auditors) read it; nobody writes it."""

    form = AuditEntryForm
    date_hierarchy = "timestamp"
    list_select_related = ["content_type", "actor", "agency"]
    list_display = ["created", "resource_url", "action", "door", "agency", "msg_short", "user_url"]
    list_filter = ["action", "door", PersonFilter, "agency", "content_type", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["object_repr", "actor__username", "actor_email", "agency__name"]
    readonly_fields = [
        "created",
        "resource_url",
        "action",
        "door",
        "agency",
        "user_url",
        "msg",
        "persons",
        "object_ids",
    ]
    fieldsets = [
        (None, {"fields": ["created", "user_url", "door", "agency", "resource_url"]}),
        (_("Changes"), {"fields": ["action", "msg"]}),
        (_("Concerns"), {"fields": ["persons", "object_ids"]}),
    ]
    actions = None

    def has_view_permission(self, request, obj=None):
        return is_administrator(request.user) or request.user.has_perm("audit.view_auditentry")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
