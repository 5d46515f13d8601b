from axes.conf import settings as axes_settings
from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin

from accounts.models import UserPreference


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "language"]
    list_filter = ["language"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]


# Axes lists every kind of record it can keep; the ones this project does not keep
# (AXES_DISABLE_ACCESS_LOG, AXES_ENABLE_ACCESS_FAILURE_LOG) would only be empty pages.
for _model, _kept in (
    (AccessLog, not axes_settings.AXES_DISABLE_ACCESS_LOG),
    (AccessFailureLog, axes_settings.AXES_ENABLE_ACCESS_FAILURE_LOG),
):
    if not _kept and admin.site.is_registered(_model):
        admin.site.unregister(_model)
