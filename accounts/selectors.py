from accounts.models import UserPreference


def user_language(user) -> str | None:
    """The language a user chose, or None for a user who never chose one."""
    if user is None or not user.pk:
        return None
    return UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
