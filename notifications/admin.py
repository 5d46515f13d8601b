"""The outbox, read-only: administrators see what was sent, what waits, and every re-send."""

from django.contrib import admin
from django.db.models import Sum

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "subject_type",
        "subject_id",
        "recipient",
        "due_on",
        "status",
        "attempts",
        "resends",
        "sent_at",
    ]
    list_filter = ["status", "kind", "subject_type"]
    date_hierarchy = "due_on"
    list_select_related = ["recipient"]
    search_fields = ["recipient__username"]
    readonly_fields = [field.name for field in Notification._meta.fields] + ["message_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        totals = Notification.objects.aggregate(resends=Sum("resends"))
        extra_context = {
            **(extra_context or {}),
            "subtitle": f"Re-sent after an unknown outcome: {totals['resends'] or 0}",
        }
        return super().changelist_view(request, extra_context=extra_context)
